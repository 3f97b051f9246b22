-- PostgreSQL twin of ../0021_workload_issuers.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Workload identity federation (MCP SEP-1933, a draft; docs/decisions/0051): the issuers of workload
-- JWTs (a CI platform's OIDC tokens, Kubernetes service account tokens, ...) that this server accepts
-- as jwt-bearer grants (RFC 7523 §2.1), and the rules deciding which MCP servers and scopes a
-- workload gets. Written only by the command line (`workload-issuers add`, `workload-issuers remove`).
-- Owned by the workload_issuers module. At most one of jwks (a JWK Set as JSON) and jwks_uri is set;
-- neither: the keys are found by OpenID Connect Discovery at the issuer (SEP-1933 steps 2-7).
CREATE TABLE workload_issuers (
    name       TEXT PRIMARY KEY,          -- the operator's slug for it; journeys and client names show it
    issuer     TEXT NOT NULL UNIQUE,      -- compared exactly with the workload JWT's iss
    jwks_uri   TEXT,                      -- fetched through safe_fetch.py, cached
    jwks       TEXT,                      -- or its public keys, given by the operator
    audiences  TEXT NOT NULL,             -- accepted aud values besides this server's issuer, space-separated
    created_at TEXT NOT NULL
);

-- One rule: a workload whose claims all equal these values may get tokens for one MCP server with
-- at most these scopes. Rules of one issuer are read in position order; every matching rule counts.
CREATE TABLE workload_rules (
    issuer_name   TEXT NOT NULL REFERENCES workload_issuers(name) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    claims        TEXT NOT NULL,          -- JSON object: claim name -> required string value ({} for any workload)
    mcp_server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    scopes        TEXT,                   -- space-separated; NULL: the MCP server's default scopes
    PRIMARY KEY (issuer_name, position)
);
CREATE INDEX workload_rules_mcp_server ON workload_rules(mcp_server_id);

-- A workload is recorded as a client on its first grant, so that journeys (mcp_authorization_flows
-- references clients) and the console can name it: its client_id is derived from this server's
-- issuer, the workload's iss and sub. These two columns are set only on such rows; a workload client
-- has no secret, no redirect URI, no registration access token, and can use no other grant.
ALTER TABLE clients ADD COLUMN workload_issuer TEXT;   -- the workload issuer's name
ALTER TABLE clients ADD COLUMN workload_subject TEXT;  -- the workload JWT's sub
