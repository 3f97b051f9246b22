-- PostgreSQL twin of ../0017_identity_providers.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Issue 16: sign-in through the organisation's OpenID Connect provider (docs/federated-sign-in.md,
-- docs/decisions/0047). Owned by identity_providers/.

-- An upstream OpenID provider, found by discovery from its issuer (OIDC Discovery 1.0 §4).
CREATE TABLE identity_providers (
    id                TEXT PRIMARY KEY,       -- idp_…
    name              TEXT NOT NULL UNIQUE,   -- a slug: the button's word and the callback path /federated/{name}/callback
    issuer            TEXT NOT NULL,          -- exactly as the provider publishes it (OIDC Discovery §4.3)
    client_id         TEXT NOT NULL,          -- this server's client id at the provider
    auth_method       TEXT NOT NULL,          -- client_secret_basic | client_secret_post | private_key_jwt
    client_secret_env TEXT,                   -- the NAME of the variable holding the secret, never the secret
    private_key       BYTEA,                   -- private_key_jwt: a PEM sealed under key_encryption_key
    key_id            TEXT,                   -- its kid
    scopes            TEXT NOT NULL,          -- space-separated, openid among them
    allowed_domains   TEXT NOT NULL,          -- space-separated email domains; empty: any
    claim_rules       TEXT NOT NULL,          -- space-separated CLAIM=VALUE, each required; empty: none
    created_at        TEXT NOT NULL
);

-- A person known by a provider: keyed by (provider, sub) (OIDC Core §5.7), never by email.
CREATE TABLE federated_identities (
    provider_id  TEXT NOT NULL REFERENCES identity_providers(id),
    sub          TEXT NOT NULL,
    user_id      TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    email        TEXT,                        -- for display only
    name         TEXT,                        -- for display only
    created_at   TEXT NOT NULL,
    signed_in_at TEXT NOT NULL,
    PRIMARY KEY (provider_id, sub)
);

-- An upstream sign-in in progress: single-use, bound to the interaction, the browser and the provider.
CREATE TABLE upstream_sign_ins (
    state_hash     TEXT PRIMARY KEY,          -- SHA-256 of the state sent to the provider
    provider_id    TEXT NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
    journey_id     TEXT NOT NULL REFERENCES authorization_journeys(id) ON DELETE CASCADE,
    nonce_hash     TEXT NOT NULL,             -- SHA-256 of the nonce (OIDC Core §3.1.2.1)
    interaction_id BYTEA NOT NULL,             -- sealed: the sign-in page to continue
    code_verifier  BYTEA NOT NULL,             -- sealed: PKCE (RFC 7636 §4.1)
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL
);
CREATE INDEX upstream_sign_ins_journey ON upstream_sign_ins(journey_id);
CREATE INDEX upstream_sign_ins_expiry ON upstream_sign_ins(expires_at);
