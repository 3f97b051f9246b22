-- PostgreSQL twin of ../0018_identity_provider_network_and_label.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Issues 16/17: an in-house identity provider on a private network (a Keycloak at 10.x), admitted by the
-- operator per provider (docs/decisions/0047, RFC 9700 §4.15: the SSRF-safe fetcher refuses private
-- addresses otherwise), and the words on its sign-in button.
ALTER TABLE identity_providers ADD COLUMN allow_private_network INTEGER NOT NULL DEFAULT 0;  -- 1: RFC 1918 / ULA admitted
ALTER TABLE identity_providers ADD COLUMN display_name TEXT;  -- "Continue with DISPLAY_NAME"; NULL: the name
