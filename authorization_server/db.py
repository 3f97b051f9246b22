"""The SQLite store: one aiosqlite connection, numbered migrations, one transaction per unit of work.

WAL lets the command line read and write while the server runs; foreign keys are on. All
database work of a request runs inside one :meth:`Database.transaction`, serialised by a lock,
so no request ever sees another's half-written rows. SQL is parameterised, always.

The checkpoint that copies the WAL back into the database file (two fsyncs) runs on a thread
and connection of its own (:class:`Checkpointer`), never inside a request's commit
(docs/decisions/0005, docs/benchmarks.md).
"""

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from authorization_server import clock

Row = sqlite3.Row


class Transaction:
    """The handle repositories use inside one transaction.

    Every call is one hop to aiosqlite's thread and back, the price of a statement here: a
    query runs and fetches in the same hop (``execute_fetchall``) rather than three (execute,
    fetch, close the cursor).
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; returns the number of rows it changed."""
        cursor = await self._connection.execute(sql, tuple(params))
        return cursor.rowcount

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row of a query that finds at most one (by key, or with ``LIMIT 1``)."""
        rows = await self._connection.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(await self._connection.execute_fetchall(sql, tuple(params)))


class Database:
    """An open database. Use :meth:`open`, then ``transaction()`` for every unit of work."""

    def __init__(self, connection: aiosqlite.Connection, checkpointer: "Checkpointer") -> None:
        self._connection = connection
        self._checkpointer = checkpointer
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    @classmethod
    async def open(cls, path: Path) -> "Database":
        """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = sqlite3.Row
        # wal_autocheckpoint = 0: the Checkpointer's thread checkpoints instead of a request's commit.
        for pragma in (
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
            "PRAGMA wal_autocheckpoint = 0",
        ):
            await connection.execute(pragma)
        database = cls(connection, Checkpointer(path))
        await database._migrate()
        return database

    async def close(self) -> None:
        self._checkpointer.stop()
        await self._connection.close()  # the last connection to close checkpoints what is left

    async def data_version(self) -> int:
        """A number that changes whenever another connection, such as the command line, commits."""
        rows = await self._connection.execute_fetchall("PRAGMA data_version")
        return next((int(row[0]) for row in rows), 0)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One atomic unit of work: committed when the block ends, rolled back if it raises.

        Called again by the task that holds the transaction (a service reloading its cache while
        a request's unit of work is open), it joins that transaction instead of waiting for the
        lock its own task holds, which would wait forever and stall every request behind it.
        """
        if self._holder is not None and self._holder is asyncio.current_task():
            yield Transaction(self._connection)
            return
        async with self._lock:
            self._holder = asyncio.current_task()
            try:
                if self._connection.in_transaction:  # left open by a cancelled unit of work
                    await self._connection.rollback()
                await self._connection.execute("BEGIN IMMEDIATE")
                try:
                    yield Transaction(self._connection)
                except BaseException:
                    await self._connection.rollback()
                    raise
                await self._connection.commit()
            finally:
                self._holder = None

    async def _migrate(self) -> None:
        """Apply the numbered scripts in ``migrations/`` that this database has not seen yet."""
        await self._connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT"
        )
        for version, name, script in _migration_scripts():
            async with self.transaction() as tx:
                if await tx.fetch_one("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)):
                    continue
                for statement in _statements(script):
                    await tx.execute(statement)
                await tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, clock.to_db(clock.now())),
                )


class Checkpointer:
    """Copies committed WAL frames back into the database file every ``INTERVAL`` seconds.

    SQLite would do it inside the commit that crosses 1,000 WAL pages, with two fsyncs, while
    that request holds the one connection and every other request waits for the lock. A
    ``PASSIVE`` checkpoint on a connection of its own waits for no one, and writers go on
    appending meanwhile; once it has copied everything, the next commit starts the WAL over, so
    the file stays small.
    """

    INTERVAL = 1.0

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None)
        try:
            while not self._stopping.wait(self.INTERVAL):
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


def _migration_scripts() -> list[tuple[int, str, str]]:
    folder = resources.files("authorization_server") / "migrations"
    scripts = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            scripts.append((int(number), rest.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return sorted(scripts)


def _statements(script: str) -> Iterable[str]:
    """Split a script into complete statements (triggers keep their inner semicolons)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending.strip()
            pending = ""
    if pending.strip() and not all(part.strip().startswith("--") or not part.strip() for part in pending.splitlines()):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending.strip()[:80]!r}")
