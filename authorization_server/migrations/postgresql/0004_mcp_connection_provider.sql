-- PostgreSQL twin of ../0004_mcp_connection_provider.sql (docs/decisions/0045): the same tables, columns and indexes.
-- What an MCP connection says about its downstream OAuth provider (issue 4): where to find it
-- (an issuer to discover, RFC 8414, or its two endpoints), the client this server is there, and
-- the scopes the MCP server's tools need. Connections made before this script have none of it.
-- The client secret is not stored: client_secret_env names the environment variable of the
-- authorization server that holds it (docs/decisions/0013).

ALTER TABLE mcp_connections ADD COLUMN issuer TEXT;                  -- NULL when the endpoints are given
ALTER TABLE mcp_connections ADD COLUMN authorization_endpoint TEXT;  -- NULL when the issuer is given
ALTER TABLE mcp_connections ADD COLUMN token_endpoint TEXT;
ALTER TABLE mcp_connections ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
ALTER TABLE mcp_connections ADD COLUMN client_secret_env TEXT;       -- NULL for a public client
ALTER TABLE mcp_connections ADD COLUMN scopes TEXT NOT NULL DEFAULT '';  -- space-separated
