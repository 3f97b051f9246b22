-- The entities of seed 000 (clients, MCP servers, MCP connections, Authorization Journeys and
-- their MCP / Downstream Authorization Flows) and what the authorization server needs besides
-- (accounts, signing keys, refresh tokens). Each table belongs to one module (docs/entities.md);
-- foreign keys across modules keep the database consistent, but only the owning module's
-- repository reads or writes a table.
-- Timestamps (*_at) are ISO 8601 UTC text; secrets, codes and tokens are stored as SHA-256 hex.

-- accounts ---------------------------------------------------------------------------------------

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,           -- scrypt, see accounts/passwords.py
    created_at    TEXT NOT NULL
) STRICT;

CREATE TABLE browser_sessions (
    id_hash    TEXT PRIMARY KEY,           -- SHA-256 of the session cookie
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX browser_sessions_user ON browser_sessions(user_id);

-- mcp_servers --------------------------------------------------------------------------------------

CREATE TABLE mcp_servers (
    id             TEXT PRIMARY KEY,       -- the slug in /mcp/{id} and in the MCP registration path
    name           TEXT NOT NULL,
    resource       TEXT NOT NULL UNIQUE,   -- canonical resource URI: the token audience (RFC 8707)
    scopes         TEXT NOT NULL,          -- every scope the server understands, space-separated
    default_scopes TEXT NOT NULL,          -- granted when a request names none (RFC 6749 §3.3)
    version        TEXT NOT NULL,          -- advertised in the MCP registration endpoint
    created_at     TEXT NOT NULL
) STRICT;

-- A downstream provider that one MCP server's tools need. It belongs to exactly one MCP server.
CREATE TABLE mcp_connections (
    id            TEXT PRIMARY KEY,
    mcp_server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (mcp_server_id, name)
) STRICT;

-- clients ------------------------------------------------------------------------------------------

CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY,
    issuer                     TEXT NOT NULL,  -- the issuer it registered with; it is bound to it
    client_secret_hash         TEXT,           -- NULL for public clients ("none")
    client_secret_expires_at   INTEGER NOT NULL DEFAULT 0,  -- RFC 7591 §3.2.1: 0 means never
    token_endpoint_auth_method TEXT NOT NULL,
    metadata                   TEXT NOT NULL,  -- the registered client metadata as JSON (RFC 7591 §2)
    created_at                 TEXT NOT NULL   -- client_id_issued_at
) STRICT;

-- journeys -----------------------------------------------------------------------------------------

-- One end-to-end authorization: the authorization request, who approved it, the code, the outcome.
CREATE TABLE authorization_journeys (
    id                     TEXT PRIMARY KEY,
    issuer                 TEXT NOT NULL,
    status                 TEXT NOT NULL,  -- see journeys/entities.py, JourneyStatus
    interaction_hash       TEXT UNIQUE,    -- SHA-256 of the sign-in/consent interaction id
    interaction_expires_at TEXT,
    browser_hash           TEXT,           -- SHA-256 of the browser cookie that made the request
    redirect_uri           TEXT,
    state                  TEXT,
    scope                  TEXT,
    resource               TEXT,
    code_challenge         TEXT,           -- PKCE, S256 only (RFC 7636 §4.3)
    user_id                TEXT REFERENCES users(id) ON DELETE SET NULL,
    code_hash              TEXT UNIQUE,    -- SHA-256 of the authorization code
    code_expires_at        TEXT,
    failure_reason         TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
) STRICT;

-- Each step of a journey, stamped: registered, authorization_requested, user_authenticated, ...
CREATE TABLE journey_events (
    id         INTEGER PRIMARY KEY,
    journey_id TEXT NOT NULL REFERENCES authorization_journeys(id) ON DELETE CASCADE,
    step       TEXT NOT NULL,
    at         TEXT NOT NULL,
    detail     TEXT
) STRICT;
CREATE INDEX journey_events_journey ON journey_events(journey_id, id);

-- Links a journey, the MCP server it authorizes access to, and the client asking for it.
CREATE TABLE mcp_authorization_flows (
    id                 TEXT PRIMARY KEY,
    journey_id         TEXT NOT NULL UNIQUE REFERENCES authorization_journeys(id) ON DELETE CASCADE,
    mcp_server_id      TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    client_id          TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    mcp_server_version TEXT,               -- as asked for at registration: accepted, not checked yet
    created_at         TEXT NOT NULL
) STRICT;
CREATE INDEX mcp_authorization_flows_client ON mcp_authorization_flows(client_id, mcp_server_id);
CREATE INDEX mcp_authorization_flows_server ON mcp_authorization_flows(mcp_server_id);

-- Links a journey and an MCP connection. Client and MCP server are reached through the journey's
-- MCP flow, not repeated here; the triggers below keep the connection on that same MCP server.
CREATE TABLE downstream_authorization_flows (
    id                TEXT PRIMARY KEY,
    journey_id        TEXT NOT NULL REFERENCES authorization_journeys(id) ON DELETE CASCADE,
    mcp_connection_id TEXT NOT NULL REFERENCES mcp_connections(id) ON DELETE CASCADE,
    status            TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (journey_id, mcp_connection_id)
) STRICT;
CREATE INDEX downstream_authorization_flows_connection ON downstream_authorization_flows(mcp_connection_id);

CREATE TRIGGER downstream_flow_connection_on_journey_server_insert
BEFORE INSERT ON downstream_authorization_flows
WHEN (SELECT mcp_server_id FROM mcp_connections WHERE id = NEW.mcp_connection_id)
     IS NOT (SELECT mcp_server_id FROM mcp_authorization_flows WHERE journey_id = NEW.journey_id)
BEGIN
    SELECT RAISE(ABORT, 'the MCP connection belongs to another MCP server than the journey''s MCP flow');
END;

CREATE TRIGGER downstream_flow_connection_on_journey_server_update
BEFORE UPDATE OF journey_id, mcp_connection_id ON downstream_authorization_flows
WHEN (SELECT mcp_server_id FROM mcp_connections WHERE id = NEW.mcp_connection_id)
     IS NOT (SELECT mcp_server_id FROM mcp_authorization_flows WHERE journey_id = NEW.journey_id)
BEGIN
    SELECT RAISE(ABORT, 'the MCP connection belongs to another MCP server than the journey''s MCP flow');
END;

-- tokens -------------------------------------------------------------------------------------------

-- The keys that sign access tokens (RFC 9068). Kept across restarts.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_key TEXT NOT NULL,             -- PKCS#8 PEM
    created_at  TEXT NOT NULL
) STRICT;

-- Refresh tokens. A journey is one grant: all refresh tokens of a journey form one family, which
-- a replayed code or a reused refresh token revokes at once (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    journey_id TEXT NOT NULL REFERENCES authorization_journeys(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    resource   TEXT NOT NULL,
    issuer     TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    rotated_at TEXT,                       -- set when it was exchanged for its successor
    revoked_at TEXT
) STRICT;
CREATE INDEX refresh_tokens_journey ON refresh_tokens(journey_id);
