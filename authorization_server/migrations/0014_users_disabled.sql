-- Issue 17: an operator can disable a user (`users disable NAME`): a disabled user cannot sign in
-- and their browser sessions end. NULL: enabled; else when it was disabled (ISO 8601 UTC).
ALTER TABLE users ADD COLUMN disabled_at TEXT;
