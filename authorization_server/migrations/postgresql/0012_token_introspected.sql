-- PostgreSQL twin of ../0012_token_introspected.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Issue 17: a journey records the first introspection (RFC 7662) of each of its access tokens,
-- and only the first: the step names the token's jti, which a partial unique index keeps to one
-- step per journey and jti (later checks of the same token add nothing).
ALTER TABLE journey_events ADD COLUMN token_jti TEXT;
CREATE UNIQUE INDEX journey_events_introspected ON journey_events(journey_id, token_jti) WHERE token_jti IS NOT NULL;
