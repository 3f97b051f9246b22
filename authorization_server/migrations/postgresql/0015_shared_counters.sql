-- PostgreSQL twin of ../0015_shared_counters.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Issue 13: what every instance serving one issuer from this database must count together, kept
-- here instead of in each process's memory (docs/decisions/0046-several-instances.md).
-- Times are integers: milliseconds since the epoch (clock.timestamp), computed in Python (BIGINT here:
-- PostgreSQL's INTEGER is 32 bits, SQLite's is 64).

-- accounts: the sign-in lockout (accounts/lockout.py), per username and address for the sign-in
-- form, per address for the admin's; one row per key, written by compare-and-swap on `version`.
CREATE TABLE sign_in_failures (
    key          TEXT PRIMARY KEY,         -- 'login <address> <username>' or 'admin <address>'
    failures     TEXT NOT NULL,            -- the recent failures' times, space-separated
    locked_until BIGINT  NOT NULL,
    locks        INTEGER NOT NULL,         -- locks so far: the next lasts duration * 2**locks
    last_failure BIGINT  NOT NULL,
    version      INTEGER NOT NULL
);

-- The per-client token limit (web/rate_limits.py): a token bucket per client, spent by one upsert
-- inside the token request's unit of work.
CREATE TABLE rate_limit_buckets (
    bucket     TEXT PRIMARY KEY,           -- '<limit> <key>'
    tokens     BIGINT  NOT NULL,           -- requests left, in thousandths
    updated_ms BIGINT  NOT NULL
);

-- The operator's console sessions (admin/auth.py, docs/decisions/0041).
CREATE TABLE admin_sessions (
    id_hash    TEXT PRIMARY KEY,           -- SHA-256 of the session cookie
    expires_at TEXT NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
