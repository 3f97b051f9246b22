"""The storage seam: units of work on one of two engines, SQLite (embedded, the default) or PostgreSQL.

All database work of a request is one *unit of work*, a coroutine function given a
:class:`Transaction` (``execute``, ``fetch_one``, ``fetch_all``, ``?`` placeholders) and run by
:meth:`Database.run`, atomically. ``engines.open_database`` picks the engine from the ``--db`` value
(:func:`parse_target`): a path or ``sqlite:///PATH`` opens the SQLite store below, a
``postgresql://`` URL the PostgreSQL one (``db_postgresql.py``, issue 13, docs/decisions/0044,
0045). Repositories write one SQL that both engines run; services never see either.

The SQLite store: one aiosqlite connection, numbered migrations, units of work committed in groups.
WAL lets the command line read and write while the server runs; foreign keys are on. All
database work of a request is one *unit of work*, a coroutine function given to
:meth:`Database.run`, which runs whole on aiosqlite's thread, so no request ever sees another's
half-written rows and a unit costs one thread hop however many statements it makes. SQL is
parameterised, always. The one hop goes through :class:`AiosqliteThread`, the only code that
uses aiosqlite's internals.

The checkpoint that copies the WAL back into the database file (two fsyncs) runs on a thread
and connection of its own (:class:`Checkpointer`), never inside a request's commit
(docs/decisions/0005, 0026, docs/benchmarks.md).
"""

import asyncio
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiosqlite

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.errors import TemporarilyUnavailable

T = TypeVar("T")
Engine = Literal["sqlite", "postgresql"]


class Row(Protocol):
    """A row as both engines give it: by column name (``row["scope"]``) or by position (``row[0]``)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> Any: ...


class DatabaseUnavailable(TemporarilyUnavailable):
    """The database cannot be reached now (PostgreSQL restarting, the network gone): 503 + ``Retry-After``.

    RFC 6749 §4.1.2.1 ``temporarily_unavailable``, RFC 9110 §15.6.4: the request may be repeated;
    nothing of its unit of work was committed, unless the connection broke during ``COMMIT`` itself.
    """


class DatabaseNewerThanCode(ValueError):
    """The database has migrations this code does not know: it was upgraded by a newer version."""


@dataclass(frozen=True)
class PoolOptions:
    """How a PostgreSQL database is reached (``--db-pool-size``, ``--db-statement-cache``, ``--db-timeout``)."""

    #: Connections at most in the pool; units beyond it wait for one.
    size: int = 10
    #: Prepared statements kept per connection; 0 behind a transaction pooler (PgBouncer ``pool_mode=transaction``).
    statement_cache: int = 100
    #: Seconds to wait for a connection (and to connect) before a unit fails with ``DatabaseUnavailable``.
    timeout: float = 5.0


def parse_target(text: str) -> tuple[Engine, str]:
    """The engine and its address named by ``--db``: ``("sqlite", path)`` or ``("postgresql", url)``.

    A plain path or ``sqlite:///PATH`` (``sqlite:////abs/path`` for an absolute one, as SQLAlchemy
    writes it) is SQLite; ``postgresql://...`` or ``postgres://...`` is PostgreSQL. ``ValueError``
    for any other scheme.
    """
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql", text
    if text.startswith("sqlite:///"):
        path = text.removeprefix("sqlite:///")
        if not path:
            raise ValueError(f"{text!r} names no file: write sqlite:///relative/path or sqlite:////absolute/path")
        return "sqlite", path
    scheme, found, _ = text.partition("://")
    if found:
        raise ValueError(
            f"--db {scheme}://...: not a database this server runs on (a path, sqlite:/// or postgresql://)"
        )
    if not text:
        raise ValueError("--db is empty: give a SQLite file path or a postgresql:// URL")
    return "sqlite", text


def shown(target: str) -> str:
    """``--db`` as the log may show it: a PostgreSQL URL's password replaced by ``***``."""
    parts = urlsplit(target)
    if parts.password is None:
        return target
    user = f"{parts.username}:***@" if parts.username else ":***@"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=user + host))


class Transaction:
    """The handle repositories use inside one unit of work: the same API on both engines.

    ``?`` placeholders; rows by name or position (:class:`Row`); ``execute`` returns the number of
    rows a statement changed.
    """

    def __init__(self) -> None:
        #: Facts noted by :meth:`count`, told to the database's observer once the transaction committed.
        self.counted: list[tuple[str, str]] = []

    def count(self, event: str, label: str) -> None:
        """Note that ``event`` happened (a journey ended, say): counted only if this unit of work commits.

        The metrics (``metrics.py``, issue 17) hear of it after ``COMMIT``; a unit that rolls back
        counted nothing. Without an observer (the command line) the note is dropped.
        """
        self.counted.append((event, label))

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; returns the number of rows it changed."""
        raise NotImplementedError

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row of a query that finds at most one (by key, or with ``LIMIT 1``)."""
        raise NotImplementedError

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        raise NotImplementedError

    async def attempt(self, part: "Unit[T]") -> T:
        """Run ``part`` of this unit so that, if it raises, only what it wrote is undone (a savepoint);
        what the unit wrote before stays, and commits with it (the token limit's spend, issue 13)."""
        raise NotImplementedError


class SqliteTransaction(Transaction):
    """A SQLite unit's handle, on the database thread.

    Its methods are coroutines so that repositories and services read the same as any other
    async code, but each runs its statement at once and never suspends: the unit they belong to
    runs to its end without giving the thread back.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__()
        self._connection = connection

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        return self._connection.execute(sql, tuple(params)).rowcount

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        row: sqlite3.Row | None = self._connection.execute(sql, tuple(params)).fetchone()
        return row

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(self._connection.execute(sql, tuple(params)).fetchall())

    async def attempt(self, part: "Unit[T]") -> T:
        self._connection.execute("SAVEPOINT attempt")
        try:
            result = await part(self)
        except BaseException:
            self._connection.execute("ROLLBACK TO attempt")
            self._connection.execute("RELEASE attempt")
            raise
        self._connection.execute("RELEASE attempt")
        return result


#: A unit of work: given the transaction, does its reads and writes and returns its result.
Unit = Callable[[Transaction], Coroutine[Any, Any, T]]


class Database:
    """An open database, on either engine: :func:`open_database`, then :meth:`run` for every unit of work."""

    engine: Engine
    _observer: Callable[[str, str], None] | None = None

    def observe(self, observer: Callable[[str, str], None]) -> None:
        """Have ``observer(event, label)`` told what committed units counted, and each unit run again after a
        conflict (the server's metrics)."""
        self._observer = observer

    @classmethod
    async def open(cls, path: Path) -> "Database":
        """Open the SQLite database at ``path`` (kept for the tests and tools that name a file)."""
        return await SqliteDatabase.open(path)

    async def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` as one atomic unit of work; its result, or the exception it raised.

        Called from inside a unit (a service reloading its cache while a request's unit runs), it
        joins that unit. ``DatabaseUnavailable`` when the database cannot be reached.
        """
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def _tell(self, transaction: Transaction) -> None:
        """After a commit: the observer hears what the transaction's units counted."""
        if self._observer is not None:
            for event, label in transaction.counted:
                self._observer(event, label)


class SqliteDatabase(Database):
    """The embedded engine. :meth:`open`, then :meth:`run` for every unit of work."""

    engine: Engine = "sqlite"

    def __init__(self, thread: "AiosqliteThread", checkpointer: "Checkpointer") -> None:
        self._thread = thread
        self._checkpointer = checkpointer
        self._queue: list[tuple[Unit[Any], asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        #: The transaction of the group being committed, seen only on the database thread.
        self._running = threading.local()

    @classmethod
    async def open(cls, path: Path) -> "SqliteDatabase":
        """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private(path)
        thread = await AiosqliteThread.connect(path)
        # wal_autocheckpoint = 0: the Checkpointer's thread checkpoints instead of a request's commit.
        for pragma in (
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
            "PRAGMA wal_autocheckpoint = 0",
        ):
            await thread.execute(pragma)
        database = cls(thread, Checkpointer(path))
        await database._migrate()
        return database

    async def close(self) -> None:
        self._checkpointer.stop()
        await self._thread.close()  # the last connection to close checkpoints what is left

    async def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` as one atomic unit of work; its result, or the exception it raised.

        Units queue up while the database thread is busy and then run together, in order, in one
        ``BEGIN IMMEDIATE`` ... ``COMMIT`` (group commit), each inside a savepoint of its own: a
        unit that raises leaves no row behind and does not disturb the others. Nothing is
        answered before the commit that holds it. Called from inside a unit (a service reloading
        its cache while a request's unit runs), it joins that unit.
        """
        joined: Transaction | None = getattr(self._running, "transaction", None)
        if joined is not None:
            return await unit(joined)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((unit, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        """Hand the queued units to the database thread, a group at a time, until none is left."""
        group: list[tuple[Unit[Any], asyncio.Future[Any]]] = []
        try:
            while self._queue:
                group, self._queue = self._queue, []
                try:
                    outcomes = await self._thread.call(self._commit, [unit for unit, _ in group])
                except Exception as error:  # the group could not begin or commit: none of it holds
                    outcomes = [_Failed(error)] * len(group)
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    if future.done():  # its request went away; what it wrote stays committed
                        continue
                    if isinstance(outcome, _Failed):
                        future.set_exception(outcome.error)
                    else:
                        future.set_result(outcome)
        finally:
            self._writer = None
            for _, future in group:  # cancelled while the thread ran them (the server stopping)
                if not future.done():
                    future.cancel()

    def _commit(self, connection: sqlite3.Connection, units: list[Unit[Any]]) -> list[Any]:
        """On the database thread: run ``units`` in one transaction; each one's result or ``_Failed``."""
        transaction = SqliteTransaction(connection)
        self._running.transaction = transaction
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                outcomes = [_run_in_savepoint(connection, transaction, unit) for unit in units]
                connection.execute("COMMIT")
                self._tell(transaction)
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        finally:
            self._running.transaction = None
        return outcomes

    async def _migrate(self) -> None:
        """Apply the numbered scripts in ``migrations/`` that this database has not seen yet."""
        await self._thread.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT"
        )
        scripts = migration_scripts("sqlite")
        applied = await self.run(applied_versions)
        refuse_newer(applied, scripts)
        for version, name, script in scripts:
            await self.run(functools.partial(_apply, version=version, name=name, script=script))


class AiosqliteThread:
    """aiosqlite's connection and its thread, with the one call this module needs that it lacks.

    aiosqlite runs each of its statements on a thread of its own, sent there through
    ``Connection._execute(function)``; it has no public way to send a function of ours, which a
    unit of work needs: a whole group of units run on that thread in one hop (decision 0026). So
    this class, and nothing else in the project, uses two internals of aiosqlite:

    - ``Connection._execute(fn, *args)``: a coroutine that queues ``fn(*args)`` for the
      connection's thread and returns its result, or raises what it raised;
    - ``Connection._conn``: the ``sqlite3.Connection`` that thread uses.

    aiosqlite is pinned (``aiosqlite~=0.22.1``, pyproject.toml), and
    ``tests/authorization_server/test_db.py`` (``TestAiosqliteInternals``) checks both names, their
    signatures and their behaviour on the installed version, so an upgrade that changes them fails
    there, by name, before anything else does.
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    @classmethod
    async def connect(cls, path: Path) -> "AiosqliteThread":
        """Open ``path`` in autocommit mode (the units say ``BEGIN`` and ``COMMIT`` themselves)."""
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = sqlite3.Row
        return cls(connection)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(sqlite3_connection, *args)`` on aiosqlite's thread: one hop; its result or its exception."""
        connection = self._connection
        execute: Callable[..., Coroutine[Any, Any, T]] = connection._execute  # unannotated in aiosqlite
        return await execute(function, connection._conn, *args)

    async def execute(self, sql: str) -> None:
        """One statement through aiosqlite's public API (the pragmas and the migrations' table)."""
        await self._connection.execute(sql)

    async def close(self) -> None:
        await self._connection.close()


#: The files SQLite keeps beside the database: the WAL, its shared-memory index, a rollback journal.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """The database and its companion files readable and writable by this user only (0600).

    The database holds the signing keys (sealed) and every digest: no other account of the machine
    reads it (issue 11). The file is made 0600 before SQLite opens it, and SQLite gives the
    ``-wal`` and ``-shm`` files it creates the mode of the database; files made by an older version
    with the umask's 0644 are narrowed here, at every start.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in COMPANION_SUFFIXES)):
        try:
            os.chmod(file, 0o600)
        except FileNotFoundError:
            continue


class _Failed:
    """What a unit raised, kept apart from what units return."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _run_in_savepoint(connection: sqlite3.Connection, transaction: SqliteTransaction, unit: Unit[Any]) -> Any:
    connection.execute("SAVEPOINT unit")
    counted = len(transaction.counted)
    try:
        outcome = _complete(unit(transaction))
    except Exception as error:
        connection.execute("ROLLBACK TO unit")
        del transaction.counted[counted:]  # what the unit counted is undone with its rows
        outcome = _Failed(error)
    connection.execute("RELEASE unit")
    return outcome


def _complete(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a unit's coroutine to its end; it must not wait for anything but the database."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("a unit of work waited for something other than the database")


async def ping(tx: Transaction) -> None:
    """The most trivial unit of work, ``SELECT 1``: the readiness probe's proof that units run (issue 17)."""
    await tx.fetch_one("SELECT 1")


async def _apply(tx: Transaction, *, version: int, name: str, script: str) -> None:
    if await tx.fetch_one("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)):
        return
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


async def applied_versions(tx: Transaction) -> set[int]:
    """The migrations a database has had (``schema_migrations``)."""
    return {int(row[0]) for row in await tx.fetch_all("SELECT version FROM schema_migrations")}


def refuse_newer(applied: set[int], scripts: list[tuple[int, str, str]]) -> None:
    """``DatabaseNewerThanCode`` (one line) if the database had a migration this code does not have."""
    known = {version for version, _, _ in scripts}
    unknown = sorted(applied - known)
    if unknown:
        raise DatabaseNewerThanCode(
            f"the database has migration {unknown[-1]:04d}, newer than this code's {max(known, default=0):04d}:"
            " run the newer version of the server, or restore a backup taken before its upgrade"
        )


def migration_scripts(engine: Engine) -> list[tuple[int, str, str]]:
    """``(number, name, script)`` of an engine's migrations, in order.

    SQLite's are ``migrations/NNNN_name.sql``; PostgreSQL's twins, with the same numbers and
    names, are ``migrations/postgresql/NNNN_name.sql`` (docs/decisions/0045).
    """
    folder = resources.files(__name__.rpartition(".")[0]) / "migrations"  # this package, by the name it was imported by
    if engine == "postgresql":
        folder = folder / "postgresql"
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
