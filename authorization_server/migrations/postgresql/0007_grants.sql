-- PostgreSQL twin of ../0007_grants.sql (docs/decisions/0045): the same tables, columns and indexes.
-- RFC 7592 client management (docs/decisions/0017): the SHA-256 digest of each client's
-- registration access token. NULL for clients registered before this script: they cannot be managed.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;

-- The refresh grace window (docs/decisions/0018): a rotated refresh token keeps, for a few seconds,
-- the digest of its successor and the successor pair sealed with AES-GCM under a key that exists
-- only in the running server's memory. The sealed pair is wiped once the window has passed.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed BYTEA;
CREATE INDEX refresh_tokens_sealed ON refresh_tokens(rotated_at) WHERE successor_sealed IS NOT NULL;
