-- PostgreSQL twin of ../0014_users_disabled.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Issue 17: an operator can disable a user (`users disable NAME`): a disabled user cannot sign in
-- and their browser sessions end. NULL: enabled; else when it was disabled (ISO 8601 UTC).
ALTER TABLE users ADD COLUMN disabled_at TEXT;
