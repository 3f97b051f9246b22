-- PostgreSQL twin of ../0005_consents.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Consent memory (docs/decisions/0012-consent-memory.md): what a user approved for one client at
-- one MCP server, so the next authorization with the same or fewer scopes skips the consent page.
-- Keyed by client_id: a new client never inherits another's consent (MCP security best practices,
-- Confused Deputy, per-client consent). Deleting the user, the client or the MCP server forgets it.
CREATE TABLE consents (
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    mcp_server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,           -- the issuer the client registered with
    scope         TEXT NOT NULL,           -- every scope approved so far, space-separated
    approved_at   TEXT NOT NULL,           -- the latest approval on the consent page
    last_used_at  TEXT,                    -- the latest authorization that skipped the consent page
    PRIMARY KEY (user_id, client_id, mcp_server_id)
);
CREATE INDEX consents_client ON consents(client_id);
CREATE INDEX consents_server ON consents(mcp_server_id);
