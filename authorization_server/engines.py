"""Which engine ``--db`` names, opened: SQLite (``db.py``) or PostgreSQL (``db_postgresql.py``), issue 13.

Apart from both so that neither imports the other: the server and the command line open their
database here, and get a ``db.Database`` whichever it is.
"""

from pathlib import Path

from mcp_authz.authorization_server.db import Database, PoolOptions, SqliteDatabase, Transaction, parse_target
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


#: Rows ``db copy`` reads and writes at a time: it never holds more of a table than this in memory.
COPY_BATCH = 1000


async def copy_database(source: Database, target: Database, *, batch: int = COPY_BATCH) -> dict[str, int]:
    """Copy every table of ``source`` into the empty ``target``, in one transaction of the target.

    Both are opened by this code, so both have its migrations: the same tables and columns.
    Tables are copied in the order of their foreign keys (a referenced table first), each streamed
    ``batch`` rows at a time: read from one transaction of the source (one consistent snapshot), inserted
    in the target's, the next batch read only then, so that memory stays bounded whatever the database's
    size. A target that has a row in any table is refused (``ValueError``) and nothing is written; if
    anything fails, the target keeps nothing. The rows a migration wrote (:data:`SEEDED`) are the
    source's after the copy. PostgreSQL's identity columns continue after the copied ids. Returns the rows
    copied per table.
    """
    order = _dependency_order(await source.run_long(lambda tx: _foreign_keys(tx, source.engine)))

    async def read(source_tx: Transaction) -> dict[str, int]:
        async def write(tx: Transaction) -> dict[str, int]:
            for table in order:
                if table not in SEEDED and await tx.fetch_one(f'SELECT 1 FROM "{table}" LIMIT 1'):  # noqa: S608
                    raise ValueError(
                        f"the target database is not empty (table {table} has rows): copy only into a new one"
                    )
            for table in SEEDED & set(order):
                await tx.execute(f'DELETE FROM "{table}"')  # noqa: S608 - a name of this module's
            copied = {table: await _copy_table(source_tx, tx, table, batch) for table in order}
            if target.engine == "postgresql":
                await _continue_identities(tx)
            return copied

        return await target.run_stepwise(write)

    return await source.run_stepwise(read)


async def _copy_table(source: Transaction, target: Transaction, table: str, batch: int) -> int:
    """Stream ``table`` from ``source`` into ``target``, ``batch`` rows at a time; how many rows."""
    copied = 0
    query = f'SELECT * FROM "{table}"'  # noqa: S608 - names from the catalog
    async for rows in source.fetch_batches(query, (), batch):
        columns = list(rows[0].keys())
        names = ", ".join(f'"{column}"' for column in columns)
        marks = ", ".join("?" * len(columns))
        insert = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'  # noqa: S608 - names from the catalog
        await target.execute_many(insert, [[row[column] for column in columns] for row in rows])
        copied += len(rows)
    return copied


async def _continue_identities(tx: Transaction) -> None:
    """PostgreSQL: each identity column's sequence goes on after the largest id copied."""
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
