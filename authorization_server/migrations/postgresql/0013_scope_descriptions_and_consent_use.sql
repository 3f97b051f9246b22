-- PostgreSQL twin of ../0013_scope_descriptions_and_consent_use.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Issue 17, the consent page: what each of an MCP server's scopes means to a person, shown on the
-- consent and connected apps pages with the raw scope as detail. A JSON object, scope -> text;
-- '{}' for a server whose scopes have no description (the page shows the scope alone).
ALTER TABLE mcp_servers ADD COLUMN scope_descriptions TEXT NOT NULL DEFAULT '{}';
-- Issue 17, connected apps: consents.last_used_at now means the tokens' last use, written when
-- the consent's client is issued tokens (a code redeemed, a refresh token rotated), no longer when
-- a remembered consent skipped the page. Values written before keep their older meaning.
