-- PostgreSQL twin of ../0019_dpop.sql (docs/decisions/0045): the same tables, columns and indexes.
-- DPoP (RFC 9449, issue 15, docs/decisions/0048).
-- A proof's jti is single use (RFC 9449 §11.1) across every instance sharing this database: the
-- digest of its key's thumbprint and jti, kept until the proof could no longer be accepted
-- (its iat plus the window); expired rows are deleted as new proofs arrive.
CREATE TABLE dpop_proofs (
    jti_hash   TEXT NOT NULL PRIMARY KEY,  -- SHA-256 of the key's thumbprint and the proof's jti
    expires_at TEXT NOT NULL
);
CREATE INDEX dpop_proofs_expires ON dpop_proofs(expires_at);
-- A public client's refresh token is bound to the key of the proof it was issued with (§5):
-- the key's JWK SHA-256 thumbprint (RFC 7638); NULL: not bound.
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
-- dpop_jkt at /authorize binds the authorization code to a key (§10); NULL: not bound.
ALTER TABLE authorization_journeys ADD COLUMN dpop_jkt TEXT;
