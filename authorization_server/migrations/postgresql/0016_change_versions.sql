-- PostgreSQL twin of ../0016_change_versions.sql (docs/decisions/0045): the same tables, columns and indexes.
-- Issue 13: a version per cached kind, bumped in the unit of work of every write to it (the
-- services), so that every instance sees a change with one cheap SELECT, whatever the engine
-- (change_versions.py, docs/decisions/0046-several-instances.md).
CREATE TABLE change_versions (
    kind    TEXT PRIMARY KEY,              -- 'mcp_servers', 'signing_keys'
    version INTEGER NOT NULL
);
INSERT INTO change_versions (kind, version) VALUES ('mcp_servers', 0);
INSERT INTO change_versions (kind, version) VALUES ('signing_keys', 0);
