-- PostgreSQL twin of ../0002_resource_server_credentials.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Resource-server credentials (RFC 7662 §2.1): an MCP server authenticates at the introspection
-- endpoint as client id = its MCP server id, with a secret set by `mcp-servers credentials ID`.
-- NULL until one is set: that MCP server cannot introspect.

ALTER TABLE mcp_servers ADD COLUMN secret_hash TEXT;  -- SHA-256 of the secret, see secrets_at_rest.py
