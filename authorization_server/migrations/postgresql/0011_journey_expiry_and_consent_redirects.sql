-- PostgreSQL twin of ../0011_journey_expiry_and_consent_redirects.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Issue 11, item 4: journeys abandoned at the sign-in or consent page expire, and journeys that
-- ended without a grant are deleted after --journey-retention; both are found by status and time.
CREATE INDEX authorization_journeys_waiting ON authorization_journeys(status, interaction_expires_at);
CREATE INDEX authorization_journeys_ended ON authorization_journeys(status, updated_at);
-- 1 when the browser said the authorization request was a top-level navigation the user started
-- (Sec-Fetch-Site none, same-origin or same-site): only then may remembered consent skip the page.
ALTER TABLE authorization_journeys ADD COLUMN user_started INTEGER NOT NULL DEFAULT 0;
-- Issue 11, consent memory: a client ID metadata document's client_id is the same for every
-- installation, so a remembered consent also names the redirect URIs it was given for
-- (space-separated; a loopback one without its port, RFC 8252 §7.3). Consents remembered before
-- this migration name none, and ask once more.
ALTER TABLE consents ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';
