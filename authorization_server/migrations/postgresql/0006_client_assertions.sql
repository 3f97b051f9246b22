-- PostgreSQL twin of ../0006_client_assertions.sql (docs/decisions/0045): the same tables, columns and indexes.
-- private_key_jwt (RFC 7523 §3, docs/decisions/0016): a client assertion's jti is single-use until
-- the assertion expires. Rows past expires_at are deleted as new assertions arrive. Clients known
-- by a client ID metadata document (docs/decisions/0015) need no schema of their own: their row in
-- clients is keyed by the document's URL and refreshed from the document.
CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    jti_hash   TEXT NOT NULL,              -- SHA-256 of the assertion's jti
    expires_at TEXT NOT NULL,              -- the assertion's exp
    PRIMARY KEY (client_id, jti_hash)
);
CREATE INDEX client_assertions_expires ON client_assertions(expires_at);
