-- PostgreSQL twin of ../0020_trusted_identity_providers.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Enterprise-managed authorization (SEP-990, draft-ietf-oauth-identity-assertion-authz-grant;
-- docs/decisions/0049): the identity providers whose ID-JAGs (RFC 7523 §2.1 jwt-bearer assertions,
-- typ oauth-id-jag+jwt) an MCP server's issuer accepts, each for the clients the operator named.
-- Written only by the command line (`mcp-servers trust-idp`, `mcp-servers distrust-idp`). Owned by the
-- mcp_servers module. Exactly one of jwks (a JWK Set as JSON) and jwks_uri is set.
CREATE TABLE trusted_identity_providers (
    mcp_server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,          -- the IdP's issuer identifier, compared exactly with the ID-JAG's iss
    jwks_uri      TEXT,                   -- fetched through safe_fetch.py, cached
    jwks          TEXT,                   -- or its public keys, given by the operator
    client_ids    TEXT NOT NULL,          -- the clients here that may present its ID-JAGs, space-separated
    created_at    TEXT NOT NULL,
    PRIMARY KEY (mcp_server_id, issuer)
);

-- RFC 7523 §3 item 7 and the ID-JAG draft: an ID-JAG's jti is single use until it expires. Rows past
-- expires_at are deleted as new assertions arrive.
CREATE TABLE identity_assertions (
    issuer     TEXT NOT NULL,             -- the IdP that issued it
    jti_hash   TEXT NOT NULL,             -- SHA-256 of the assertion's jti
    expires_at TEXT NOT NULL,             -- the assertion's exp (plus the clock leeway)
    PRIMARY KEY (issuer, jti_hash)
);
CREATE INDEX identity_assertions_expires ON identity_assertions(expires_at);

-- The other side: this server as the enterprise identity provider (SEP-990 step 1; RFC 8693 token
-- exchange with requested_token_type urn:ietf:params:oauth:token-type:id-jag). A row lets one client
-- here get ID-JAGs for one resource authorization server (audience: its issuer), where the client is
-- known as audience_client_id (the ID-JAG's client_id claim). Written only by the command line
-- (`clients allow-id-jag`, `clients withdraw-id-jag`). Owned by the clients module.
CREATE TABLE id_jag_audiences (
    client_id          TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    audience           TEXT NOT NULL,
    audience_client_id TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    PRIMARY KEY (client_id, audience)
);
