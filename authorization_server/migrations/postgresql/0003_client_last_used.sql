-- PostgreSQL twin of ../0003_client_last_used.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Dynamic registrations expire after an idle period (client_expiry.py, docs/decisions/0011):
-- the last time a client was used at /authorize or /token, refreshed at most once an hour.
-- Clients registered before this script count as used when they registered.
ALTER TABLE clients ADD COLUMN last_used_at TEXT;
UPDATE clients SET last_used_at = created_at;
CREATE INDEX clients_last_used ON clients(last_used_at);

-- The cleanup asks which idle clients still hold a live refresh token, and deleting a client
-- cascades to its refresh tokens: both look refresh tokens up by client.
CREATE INDEX refresh_tokens_client ON refresh_tokens(client_id);
