-- PostgreSQL twin of ../0009_client_blocked.sql (docs/decisions/0045): the same tables, columns and indexes.
-- An operator can block a client (`clients block`, docs/decisions/0025): it is refused at /authorize,
-- /token, /revoke and its RFC 7592 configuration endpoint until unblocked. 0: usable, 1: blocked.
ALTER TABLE clients ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
