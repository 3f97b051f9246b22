-- PostgreSQL twin of ../0008_downstream_authorization.sql (docs/decisions/0045): the same tables, columns and indexes.
-- The downstream authorization itself (issue 4, docs/decisions/0021): after consent, this server
-- is an OAuth client of each provider of the MCP server's connections in turn.
--
-- A connection may name the provider's resource (RFC 8707) its tokens are for.
ALTER TABLE mcp_connections ADD COLUMN resource TEXT;

-- A downstream flow carries its own authorization request (state, PKCE verifier) and, once
-- completed, the user's tokens at the provider. The state is kept as a SHA-256 digest, cleared
-- when the callback uses it (single use). The verifier and the tokens are sealed with AES-GCM
-- (encryption.py) under the key of the downstream_token_key setting, their associated data
-- naming the flow and the column: the database file alone never reveals them.
ALTER TABLE downstream_authorization_flows ADD COLUMN state_hash TEXT;
ALTER TABLE downstream_authorization_flows ADD COLUMN state_expires_at TEXT;
ALTER TABLE downstream_authorization_flows ADD COLUMN redirect_uri TEXT;        -- sent to the provider, repeated at the token endpoint
ALTER TABLE downstream_authorization_flows ADD COLUMN code_verifier_sealed BYTEA;
ALTER TABLE downstream_authorization_flows ADD COLUMN access_token_sealed BYTEA;
ALTER TABLE downstream_authorization_flows ADD COLUMN refresh_token_sealed BYTEA;
ALTER TABLE downstream_authorization_flows ADD COLUMN token_expires_at TEXT;    -- NULL: the provider did not say
ALTER TABLE downstream_authorization_flows ADD COLUMN scope TEXT;
ALTER TABLE downstream_authorization_flows ADD COLUMN failure_reason TEXT;
ALTER TABLE downstream_authorization_flows ADD COLUMN completed_at TEXT;
CREATE UNIQUE INDEX downstream_authorization_flows_state ON downstream_authorization_flows(state_hash);
