-- PostgreSQL twin of ../0010_client_credentials_approvals.sql (docs/decisions/0045): the same tables, columns and indexes.
-- The client_credentials grant is the operator's decision (issue 11 item 1, OAuth 2.1 §4.2, RFC 6749 §4.4:
-- "previously arranged with the authorization server"; docs/decisions/0018): a row here lets one client
-- get machine tokens for one MCP server, with at most these scopes. Written only by the command line
-- (`clients add --grant client_credentials`, `clients approve`, `clients withdraw`), never by registration
-- (RFC 7591) nor by a client ID metadata document. Owned by the clients module.
CREATE TABLE client_credentials_approvals (
    client_id     TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    mcp_server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    scopes        TEXT NOT NULL,          -- the scopes the client may get there, space-separated
    approved_at   TEXT NOT NULL,
    PRIMARY KEY (client_id, mcp_server_id)
);
