"""Which engine ``--db`` names, opened: SQLite (``db.py``) or PostgreSQL (``db_postgresql.py``), issue 13.

Apart from both so that neither imports the other: the server and the command line open their
database here, and get a ``db.Database`` whichever it is.
"""

from pathlib import Path

from mcp_authz.authorization_server.db import Database, PoolOptions, Row, SqliteDatabase, Transaction, parse_target
from mcp_authz.authorization_server.db_postgresql import PostgresDatabase


async def open_database(target: str | Path, options: PoolOptions | None = None) -> Database:
    """Open the database ``target`` names (:func:`parse_target`) and bring its schema up to date."""
    options = options or PoolOptions()
    if isinstance(target, Path):
        return await SqliteDatabase.open(target, options.timeout)
    engine, address = parse_target(target)
    if engine == "postgresql":
        return await PostgresDatabase.connect(address, options)
    return await SqliteDatabase.open(Path(address), options.timeout)


#: Tables copied after others that no foreign key names: a trigger checks a downstream flow against
#: its journey's MCP flow (migrations/0001_initial.sql).
COPIED_AFTER = {"downstream_authorization_flows": {"mcp_authorization_flows"}}
#: Tables a migration fills (migrations/0016_change_versions.sql): a new database has their rows, which
#: the source's replace; they do not make the target count as not empty.
SEEDED = {"change_versions"}


async def copy_database(source: Database, target: Database) -> dict[str, int]:
    """Copy every table of ``source`` into the empty ``target``, in one transaction of the target.

    Both are opened by this code, so both have its migrations: the same tables and columns.
    Tables are copied in the order of their foreign keys (a referenced table first); a target
    that has a row in any table is refused (``ValueError``) and nothing is written; the rows a
    migration wrote (:data:`SEEDED`) are the source's after the copy. PostgreSQL's
    identity columns continue after the copied ids. Returns the rows copied per table.
    """
    order = _dependency_order(await source.run_long(lambda tx: _foreign_keys(tx, source.engine)))

    async def read(tx: Transaction) -> dict[str, list[Row]]:  # one unit: one consistent snapshot of the source
        return {table: await tx.fetch_all(f'SELECT * FROM "{table}"') for table in order}  # noqa: S608 - names from the catalog

    contents = await source.run_long(read)

    async def write(tx: Transaction) -> dict[str, int]:
        for table in order:
            if table not in SEEDED and await tx.fetch_one(f'SELECT 1 FROM "{table}" LIMIT 1'):  # noqa: S608
                raise ValueError(f"the target database is not empty (table {table} has rows): copy only into a new one")
        for table in SEEDED & set(order):
            await tx.execute(f'DELETE FROM "{table}"')  # noqa: S608 - a name of this module's
        for table, rows in contents.items():
            for row in rows:
                columns = list(row.keys())
                names = ", ".join(f'"{column}"' for column in columns)
                marks = ", ".join("?" * len(columns))
                await tx.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', [row[c] for c in columns])  # noqa: S608
        if target.engine == "postgresql":
            identities = await tx.fetch_all(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND is_identity = 'YES'"
            )
            for identity in identities:
                table, column = identity[0], identity[1]
                await tx.fetch_one(
                    f'SELECT setval(pg_get_serial_sequence(?, ?), coalesce(max("{column}"), 0) + 1, false)'  # noqa: S608
                    f' FROM "{table}"',
                    (table, column),
                )
        return {table: len(rows) for table, rows in contents.items()}

    return await target.run_long(write)


async def _foreign_keys(tx: Transaction, engine: str) -> dict[str, set[str]]:
    """Each table of the schema (but ``schema_migrations``) and the tables its foreign keys name."""
    if engine == "postgresql":
        tables = await tx.fetch_all(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        references = await tx.fetch_all(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c"
            " JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = current_schema()"
        )
    else:
        tables = await tx.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        references = await tx.fetch_all(
            "SELECT m.name, f.\"table\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'"
        )
    graph: dict[str, set[str]] = {str(row[0]): set() for row in tables if row[0] != "schema_migrations"}
    for row in references:
        if row[0] in graph and row[1] != row[0]:
            graph[str(row[0])].add(str(row[1]))
    for table, after in COPIED_AFTER.items():
        if table in graph:
            graph[table] |= after & graph.keys()
    return graph


def _dependency_order(graph: dict[str, set[str]]) -> list[str]:
    """The tables, each after those it references (by name among those ready, for a stable order)."""
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(graph):
        ready = sorted(table for table, needs in graph.items() if table not in done and needs <= done)
        if not ready:
            raise ValueError(f"the foreign keys of {sorted(graph.keys() - done)} form a cycle")
        order += ready
        done |= set(ready)
    return order
