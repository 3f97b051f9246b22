"""Databases with many journeys, made fast: one real flow, then its rows copied in bulk by SQL.

The template is what a real full flow (register through the MCP endpoint, authorize, redeem,
refresh) leaves in a fresh database: its client, journey, events, MCP flow, refresh tokens and
whatever else refers to the client or the journey. Each copy gets the same suffix on every key
(primary keys, unique columns, references to the client and the journey), so the copies are
distinct, consistent rows of the same shape, and every index grows as it would in use.

The same copy runs on either engine (issue 13): only the catalog queries differ, :class:`Sqlite`
reads ``PRAGMA``s, :class:`Postgres` reads ``pg_catalog``. Integer primary keys are left out of
the copy, so that each engine numbers the copies itself (a rowid, an identity column).
"""

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from scripts.stack import start_authorization_server

#: Tables that hold one flow's rows: these two, and those referring to them.
ROOTS = ("clients", "authorization_journeys")


class Catalog(Protocol):
    """What the copy needs to know of one engine's schema, and a way to run a statement."""

    def tables(self) -> list[str]: ...

    def columns(self, table: str) -> list[tuple[str, str, bool]]:
        """Each column's name, its type in capitals, and whether it is (part of) the primary key."""
        ...

    def references_to_roots(self, table: str) -> set[str]:
        """The columns of ``table`` whose foreign key names one of :data:`ROOTS`."""
        ...

    def unique_columns(self, table: str) -> set[str]: ...

    def execute(self, sql: str) -> None: ...


def build(folder: Path, journeys: int, database: str | None = None) -> int:
    """A database with ``journeys`` clients and journeys, in ``folder`` or the empty PostgreSQL
    ``database``; returns its size in bytes."""
    from scripts.bench.run import Endpoints, warm_up  # the flow the benchmarks drive

    server = start_authorization_server(folder, database=database)
    try:
        warm_up(Endpoints.ours(server))
    finally:
        server.program.stop()
    if database is None:
        assert isinstance(server.db, Path)
        return _build_sqlite(server.db, journeys)
    return _build_postgresql(database, journeys)


def _build_sqlite(path: Path, journeys: int) -> int:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("BEGIN")
        copy_flows(Sqlite(db), journeys - 1)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def _build_postgresql(url: str, journeys: int) -> int:
    loop = asyncio.new_event_loop()
    try:
        catalog = Postgres(loop, loop.run_until_complete(asyncpg.connect(url)))
        # The copies are consistent by construction: no foreign key or trigger checks each row again.
        catalog.execute("SET session_replication_role = replica")
        catalog.execute("BEGIN")
        copy_flows(catalog, journeys - 1)
        catalog.execute("COMMIT")
        catalog.execute("ANALYZE")  # the planner's statistics, as autovacuum would have them in use
        size: int = catalog.value("SELECT pg_database_size(current_database())")
        loop.run_until_complete(catalog.connection.close())
        return size
    finally:
        loop.close()


def copy_flows(catalog: Catalog, copies: int) -> None:
    """``copies`` more of every flow table's rows (:func:`_copy`), the rotated refresh token's sealed
    successor wiped first: in a database in use, a token rotated more than its grace ago holds none
    (the family's next refresh or the upkeep wiped it, docs/decisions/0018). Copied, the template's
    one would be N expired successors that the upkeep wipes 500 at a time from the server's start,
    on PostgreSQL at 10-60 ms a batch, in the middle of the measured token requests (issue 14)."""
    catalog.execute("UPDATE refresh_tokens SET successor_sealed = NULL")
    tables = catalog.tables()
    for table in [*ROOTS, *(t for t in tables if t not in ROOTS and catalog.references_to_roots(t))]:
        _copy(catalog, table, copies)


def _copy(catalog: Catalog, table: str, copies: int) -> None:
    """``copies`` more of the table's rows, each with the copy's number appended to its keys.

    The names in the SQL come from the schema itself, never from input."""
    columns = catalog.columns(table)
    keys = catalog.references_to_roots(table) | catalog.unique_columns(table)
    keys.update(name for name, kind, primary in columns if primary and kind == "TEXT")
    names, values = [], []
    for name, kind, primary in columns:
        if primary and kind in {"INTEGER", "BIGINT"}:
            continue  # the engine numbers the copies
        names.append(f'"{name}"')
        values.append(f"\"{name}\" || '-' || copy.n" if name in keys else f'"{name}"')
    copy = f"WITH RECURSIVE copy(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM copy WHERE n < {int(copies)}) "  # noqa: S608
    catalog.execute(
        f'{copy}INSERT INTO "{table}" ({", ".join(names)}) SELECT {", ".join(values)} FROM "{table}", copy'  # noqa: S608
    )


class Sqlite:
    """SQLite's catalog: ``PRAGMA table_info``, ``foreign_key_list``, ``index_list``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def tables(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]

    def columns(self, table: str) -> list[tuple[str, str, bool]]:
        return [(c[1], c[2].upper(), bool(c[5])) for c in self.db.execute(f"PRAGMA table_info({table})")]

    def references_to_roots(self, table: str) -> set[str]:
        return {fk[3] for fk in self.db.execute(f"PRAGMA foreign_key_list({table})") if fk[2] in ROOTS}

    def unique_columns(self, table: str) -> set[str]:
        keys: set[str] = set()
        for index in self.db.execute(f"PRAGMA index_list({table})").fetchall():
            if index[2]:  # unique (primary keys of non-rowid columns included)
                keys.update(info[2] for info in self.db.execute(f"PRAGMA index_info({index[1]})"))
        return keys

    def execute(self, sql: str) -> None:
        self.db.execute(sql)


class Postgres:
    """PostgreSQL's catalog: ``information_schema.columns``, ``pg_constraint``, ``pg_index``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: Any) -> None:
        self.loop = loop
        self.connection = connection

    def rows(self, sql: str, *args: object) -> list[Any]:
        return list(self.loop.run_until_complete(self.connection.fetch(sql, *args)))

    def value(self, sql: str) -> Any:
        return self.loop.run_until_complete(self.connection.fetchval(sql))

    def tables(self) -> list[str]:
        return [
            row[0]
            for row in self.rows(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ]

    def columns(self, table: str) -> list[tuple[str, str, bool]]:
        primary = self._indexed(table, "i.indisprimary")
        rows = self.rows(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        return [(row[0], row[1].upper(), row[0] in primary) for row in rows]

    def references_to_roots(self, table: str) -> set[str]:
        rows = self.rows(
            "SELECT a.attname FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)"
            " WHERE c.contype = 'f' AND c.conrelid = $1::regclass AND c.confrelid::regclass::text = ANY($2)",
            table,
            list(ROOTS),
        )
        return {row[0] for row in rows}

    def unique_columns(self, table: str) -> set[str]:
        return self._indexed(table, "i.indisunique")

    def _indexed(self, table: str, condition: str) -> set[str]:
        rows = self.rows(
            "SELECT a.attname FROM pg_index i"  # noqa: S608 - one of two fixed conditions
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            f" WHERE i.indrelid = $1::regclass AND {condition}",
            table,
        )
        return {row[0] for row in rows}

    def execute(self, sql: str) -> None:
        self.loop.run_until_complete(self.connection.execute(sql))
