"""The storage seam: units of work on one of two engines, SQLite (embedded, the default) or PostgreSQL.

All database work of a request is one *unit of work*, a coroutine function given a
:class:`Transaction` (``execute``, ``fetch_one``, ``fetch_all``, ``?`` placeholders) and run by
:meth:`Database.run`, atomically. ``engines.open_database`` picks the engine from the ``--db`` value
(:func:`parse_target`): a path or ``sqlite:///PATH`` opens the SQLite store below, a
``postgresql://`` URL the PostgreSQL one (``db_postgresql.py``, issue 13, docs/decisions/0044,
0045). Repositories write one SQL that both engines run; services never see either.

The SQLite store: numbered migrations, WAL (the command line reads and writes while the server
runs), foreign keys on. A request's unit of work runs whole on the event loop's thread, on a
``sqlite3`` connection with ``busy_timeout`` 0: it never suspends, so no request ever sees
another's half-written rows, and it costs no thread hop. The loop never waits for SQLite's lock:
a unit that meets the write lock held by another process is rolled back and runs again after an
``asyncio.sleep``, up to ``--db-timeout`` (then 503); one that only reads needs no lock (issue 14,
docs/decisions/0005, 0026). Work that may take long (the migrations at start, the maintenance
rounds, ``db copy``) runs on aiosqlite's thread and connection instead (:meth:`Database.run_long`,
through :class:`AiosqliteThread`, the only code that uses aiosqlite's internals). SQL is
parameterised, always.

The checkpoint that copies the WAL back into the database file (two fsyncs) runs on a thread
and connection of its own (:class:`Checkpointer`), never inside a request's commit
(docs/decisions/0005, 0026, docs/benchmarks.md).
"""

import asyncio
import functools
import os
import random
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
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
    """How a PostgreSQL database is reached (``--db-pool-size``, ``--db-statement-cache``, ``--db-timeout``;
    SQLite reads ``--db-timeout`` only)."""

    #: Connections at most in the pool; units beyond it wait for one.
    size: int = 10
    #: Prepared statements kept per connection; 0 behind a transaction pooler (PgBouncer ``pool_mode=transaction``).
    statement_cache: int = 100
    #: Seconds to wait for a connection (and to connect) before a unit fails with ``DatabaseUnavailable``;
    #: on SQLite, for the write lock another process holds (``SqliteDatabase.open``).
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

    def fetch_batches(self, sql: str, params: Iterable[Any] = (), size: int = 1000) -> AsyncIterator[list[Row]]:
        """The rows of a query, at most ``size`` at a time, each batch read when the one before was taken:
        never more than a batch of them in memory (``db copy``: SQLite's ``fetchmany``, a PostgreSQL cursor)."""
        raise NotImplementedError

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once for each row of parameters (``db copy``'s inserts, a batch at a time)."""
        raise NotImplementedError

    async def take_write_lock(self) -> None:
        """Hold the database's write lock from here on, as a unit that writes does.

        SQLite: a unit that began without it (another connection held it) stops here and waits for
        it like any writer; the readiness probe's ``ping`` asks so, since a database whose lock stays
        taken serves no write. PostgreSQL: nothing (its statements lock the rows they change).
        """

    async def attempt(self, part: "Unit[T]") -> T:
        """Run ``part`` of this unit so that, if it raises, only what it wrote is undone (a savepoint);
        what the unit wrote before stays, and commits with it (the token limit's spend, issue 13)."""
        raise NotImplementedError


#: SQLite's primary result codes for a lock another connection holds (``sqlite_errorcode & 0xFF``).
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
#: ``Retry-After`` of the 503 for a unit that waited ``--db-timeout`` for the write lock in vain.
RETRY_AFTER = 2


class WriteLockBusy(Exception):
    """A statement met a lock another connection holds (``SQLITE_BUSY``, ``SQLITE_LOCKED``).

    On the loop's connection (``busy_timeout`` 0) it comes at once, and the unit runs again later,
    whole; on the thread for long work it comes after ``--db-timeout`` and the work fails with
    ``DatabaseUnavailable``.
    """


def _locked(error: sqlite3.Error) -> bool:
    """``error`` says that another connection holds the lock (and not that something is broken)."""
    return getattr(error, "sqlite_errorcode", 0) & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)


class SqliteTransaction(Transaction):
    """A SQLite unit's handle, on the thread of its connection (the event loop's, or the long work's).

    Its methods are coroutines so that repositories and services read the same as any other
    async code, but each runs its statement at once and never suspends: the unit they belong to
    runs to its end without giving the thread back. A statement that meets another connection's
    lock raises :class:`WriteLockBusy`, and the transaction remembers it (:attr:`busy`) whatever
    the unit does with the exception: what the unit did is rolled back and it runs again.
    """

    def __init__(self, connection: sqlite3.Connection, *, locked: bool = True) -> None:
        super().__init__()
        self._connection = connection
        #: Begun with ``BEGIN IMMEDIATE``: it holds the write lock.
        self._locked = locked
        #: A statement met another connection's lock: this transaction does not commit.
        self.busy = False

    def _statement(self, sql: str, params: Iterable[Any]) -> sqlite3.Cursor:
        return self._guarded(lambda: self._connection.execute(sql, tuple(params)))

    def _guarded(self, statement: Callable[[], sqlite3.Cursor]) -> sqlite3.Cursor:
        try:
            return statement()
        except sqlite3.OperationalError as error:
            if _locked(error):
                self.busy = True
                raise WriteLockBusy(str(error)) from None
            raise

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        return self._statement(sql, params).rowcount

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        row: sqlite3.Row | None = self._statement(sql, params).fetchone()
        return row

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(self._statement(sql, params).fetchall())

    async def fetch_batches(self, sql: str, params: Iterable[Any] = (), size: int = 1000) -> AsyncIterator[list[Row]]:
        cursor = self._statement(sql, params)
        while rows := cursor.fetchmany(size):
            yield rows

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._guarded(lambda: self._connection.executemany(sql, (tuple(row) for row in rows)))

    async def take_write_lock(self) -> None:
        if not self._locked:
            self.busy = True
            raise WriteLockBusy("the write lock is another connection's")

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


class _SteppingTransaction(Transaction):
    """The handle of :meth:`SqliteDatabase.run_stepwise`: each statement hops to aiosqlite's thread, where the
    transaction is, so that the unit may await other work between its statements (another database)."""

    def __init__(self, thread: "AiosqliteThread", on_thread: SqliteTransaction) -> None:
        super().__init__()
        self._thread = thread
        #: The transaction's handle on aiosqlite's thread: used there only.
        self._on_thread = on_thread

    async def _hop(self, statement: Callable[[SqliteTransaction], Coroutine[Any, Any, T]]) -> T:
        return await self._thread.call(lambda connection: _complete(statement(self._on_thread)))

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        values = tuple(params)
        return await self._hop(lambda tx: tx.execute(sql, values))

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        values = tuple(params)
        return await self._hop(lambda tx: tx.fetch_one(sql, values))

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        values = tuple(params)
        return await self._hop(lambda tx: tx.fetch_all(sql, values))

    async def fetch_batches(self, sql: str, params: Iterable[Any] = (), size: int = 1000) -> AsyncIterator[list[Row]]:
        values = tuple(params)
        cursor = await self._thread.call(lambda connection: self._on_thread._statement(sql, values))
        while rows := await self._thread.call(lambda connection: cursor.fetchmany(size)):
            yield rows

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(row) for row in rows]
        await self._hop(lambda tx: tx.execute_many(sql, batch))


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

    async def run_long(self, unit: Unit[T]) -> T:
        """Run ``unit``, work that may take long (the maintenance rounds, ``db copy``), as one unit of work.

        The same as :meth:`run` but for SQLite, where :meth:`run` runs on the event loop's thread and
        long work goes to a thread of its own (docs/decisions/0005).
        """
        return await self.run(unit)

    async def run_stepwise(self, unit: Unit[T]) -> T:
        """Run ``unit`` as one unit of work that may await other work between its statements: ``db copy``
        reads a batch of one database, writes it into another, and reads the next, inside one transaction
        of each (on PostgreSQL every unit may: :meth:`run_long`; SQLite: :class:`SqliteDatabase`)."""
        return await self.run_long(unit)

    async def close(self) -> None:
        raise NotImplementedError

    def _tell(self, transaction: Transaction) -> None:
        """After a commit: the observer hears what the transaction's units counted."""
        if self._observer is not None:
            for event, label in transaction.counted:
                self._observer(event, label)


@dataclass
class _Waiting:
    """A unit that met the write lock held by another connection, waiting to run again."""

    unit: "Unit[Any]"
    future: "asyncio.Future[Any]"
    #: The event loop's time after which it fails with ``DatabaseUnavailable`` (``--db-timeout``).
    deadline: float


class SqliteDatabase(Database):
    """The embedded engine. :meth:`open`, then :meth:`run` for every unit of work.

    Two connections: the event loop's, on which every request's unit runs (:meth:`run`), with
    ``busy_timeout`` 0 so that it never waits for a lock; and aiosqlite's, on a thread of its own,
    for the work that may take long: the migrations at start, the maintenance rounds, ``db copy``
    (:meth:`run_long`). The checkpoints have a third (:class:`Checkpointer`).
    """

    engine: Engine = "sqlite"

    #: The first pause of a unit that met the write lock; each next one doubles, up to ``LONGEST_PAUSE``.
    FIRST_PAUSE = 0.001
    LONGEST_PAUSE = 0.05

    def __init__(
        self, connection: sqlite3.Connection, thread: "AiosqliteThread", checkpointer: "Checkpointer", timeout: float
    ) -> None:
        self._connection = connection
        self._thread = thread
        self._checkpointer = checkpointer
        self._timeout = timeout
        #: Units given during this turn of the event loop, committed together at its end.
        self._group: list[_Waiting] = []
        #: Units waiting for the write lock, in the order they met it; ``_retry`` runs them again.
        self._waiting: list[_Waiting] = []
        self._retrier: asyncio.Task[None] | None = None
        #: The transaction of the unit running on this thread (the loop's, or the long work's).
        self._running = threading.local()
        #: How many times waiting units were tried again (the tests and benchmarks read it).
        self.retries = 0

    @classmethod
    async def open(cls, path: Path, timeout: float = 5.0) -> "SqliteDatabase":
        """Open (creating if needed) the database at ``path`` and bring its schema up to date.

        ``timeout`` (``--db-timeout``): the seconds a unit waits for the write lock that another
        process (the command line, another worker) holds, before it fails with ``DatabaseUnavailable``.
        """
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private(path)
        thread = await AiosqliteThread.connect(path)
        # wal_autocheckpoint = 0: the Checkpointer's thread checkpoints instead of a request's commit.
        for pragma in ("PRAGMA journal_mode = WAL", *_PRAGMAS, f"PRAGMA busy_timeout = {round(timeout * 1000)}"):
            await thread.execute(pragma)
        database = cls(_loop_connection(path, timeout), thread, Checkpointer(path), timeout)
        try:
            await database._migrate()
        except BaseException:
            await database.close()
            raise
        return database

    async def close(self) -> None:
        if self._retrier is not None:
            self._retrier.cancel()
        self._checkpointer.stop()
        self._connection.close()
        await self._thread.close()  # the last connection to close checkpoints what is left

    async def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` as one atomic unit of work, on the event loop's thread; its result, or the exception it raised.

        The units given during one turn of the event loop run together at its end, in order, in
        one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (group commit), each inside a savepoint of its own:
        one that raises leaves no row behind and does not disturb the others. A unit never
        suspends (:func:`_complete`), so no other request runs between its statements. If another
        connection holds the write lock, the loop does not wait for it (:meth:`_commit_group`).
        Nothing is answered before the commit that holds it. Called from inside a unit (a service
        reloading its cache while a request's unit runs), it joins that unit.
        """
        joined: Transaction | None = getattr(self._running, "transaction", None)
        if joined is not None:
            return await unit(joined)
        loop = asyncio.get_running_loop()
        entry = _Waiting(unit, loop.create_future(), loop.time() + self._timeout)
        if not self._group:
            loop.call_soon(self._commit_group)
        self._group.append(entry)
        result: T = await entry.future
        return result

    def _commit_group(self) -> None:
        """At the end of a turn of the loop: the units given during it, in one transaction.

        If another connection holds the write lock, each runs in a plain ``BEGIN`` instead, where a
        unit that only reads needs no lock and is answered at once; one that writes meets the lock
        at its first write, is rolled back, and waits for it without blocking the loop (:meth:`_retry`).
        """
        group = [entry for entry in self._group if not entry.future.done()]  # a request that went away
        self._group = []
        if not group:
            return
        outcomes = None
        if not self._waiting:  # units that wait for the lock go first, when it comes
            outcomes = self._try([entry.unit for entry in group], "BEGIN IMMEDIATE")
        if outcomes is not None:
            _deliver(group, outcomes)
            return
        for entry in group:  # the lock is another's: a unit that only reads needs none
            outcome = self._try([entry.unit], "BEGIN")
            if outcome is None:
                self._waiting.append(entry)
            else:
                _deliver([entry], outcome)
        if self._waiting and self._retrier is None:
            self._retrier = asyncio.get_running_loop().create_task(self._retry())

    def _try(self, units: list[Unit[Any]], begin: str) -> list[Any] | None:
        """:meth:`_transaction`, with an error that stops the whole of it given to each unit."""
        try:
            return self._transaction(units, begin)
        except Exception as error:  # the group could not begin or commit (a full disk): none of it holds
            return [_Failed(error)] * len(units)

    async def run_long(self, unit: Unit[T]) -> T:
        """Run ``unit`` on aiosqlite's thread and connection, which waits for the lock up to ``--db-timeout``.

        For work that may take long (the maintenance rounds, ``db copy``, the migrations): the
        event loop goes on serving meanwhile, and its units wait for the lock without blocking it.
        """
        done: tuple[Transaction, T] = await self._thread.call(self._run_long, unit)
        transaction, result = done
        self._tell(transaction)
        return result

    async def run_stepwise(self, unit: Unit[T]) -> T:
        """``unit`` in one transaction on aiosqlite's connection, begun and ended there, each statement a hop to
        its thread (:class:`_SteppingTransaction`): between them the unit awaits what it likes. For ``db copy``
        alone, which has the database to itself: a unit of :meth:`run_long` meanwhile would join the transaction."""
        try:
            on_thread = await self._thread.call(_begin_long)
            transaction = _SteppingTransaction(self._thread, on_thread)
            try:
                result = await unit(transaction)
                if on_thread.busy:
                    raise WriteLockBusy("database is locked")
                await self._thread.call(lambda connection: connection.execute("COMMIT"))
            except BaseException:
                await self._thread.call(_roll_back)
                raise
        except (sqlite3.OperationalError, WriteLockBusy) as error:
            raise _unavailable(error) from None
        self._tell(transaction)
        return result

    def _run_long(self, connection: sqlite3.Connection, unit: Unit[T]) -> tuple[Transaction, T]:
        """On aiosqlite's thread: ``unit`` in one transaction; ``DatabaseUnavailable`` past ``--db-timeout``."""
        transaction = SqliteTransaction(connection)
        self._running.transaction = transaction
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = _complete(unit(transaction))
                if transaction.busy:
                    raise WriteLockBusy("database is locked")
                connection.execute("COMMIT")
            except BaseException:
                _roll_back(connection)
                raise
        except (sqlite3.OperationalError, WriteLockBusy) as error:
            raise _unavailable(error) from None
        finally:
            self._running.transaction = None
        return transaction, result

    def _transaction(self, units: list[Unit[Any]], begin: str) -> list[Any] | None:
        """On the loop's connection: ``units`` in one transaction begun by ``begin``; each one's outcome.

        ``None`` when a statement met another connection's lock: the transaction is rolled back
        and nothing of it holds. One unit runs without a savepoint (it fails: ``ROLLBACK``);
        several each in a savepoint of their own, so that one that raises does not undo the others.
        """
        connection = self._connection
        try:
            connection.execute(begin)
        except sqlite3.OperationalError as error:
            if _locked(error):
                return None
            raise
        transaction = SqliteTransaction(connection, locked=begin == "BEGIN IMMEDIATE")
        self._running.transaction = transaction
        try:
            if len(units) == 1:
                outcomes = [_outcome(transaction, units[0])]
                ends = "ROLLBACK" if isinstance(outcomes[0], _Failed) else "COMMIT"
            else:
                outcomes = []
                for unit in units:
                    outcomes.append(_run_in_savepoint(connection, transaction, unit))
                    if transaction.busy:
                        break
                ends = "COMMIT"
            if transaction.busy:
                connection.execute("ROLLBACK")
                return None
            try:
                connection.execute(ends)
            except sqlite3.OperationalError as error:
                if not _locked(error):
                    raise
                connection.execute("ROLLBACK")
                return None
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            self._running.transaction = None
        if ends == "COMMIT":
            self._tell(transaction)
        return outcomes

    async def _retry(self) -> None:
        """Run the waiting units again, together, after a pause that grows (jittered) while the lock stays taken.

        Those that wait longer than ``--db-timeout`` fail with ``DatabaseUnavailable`` (503 +
        ``Retry-After``); nothing of them was written.
        """
        loop = asyncio.get_running_loop()
        pause = self.FIRST_PAUSE
        try:
            while self._waiting:
                await asyncio.sleep(random.uniform(pause / 2, pause))  # noqa: S311 - jitter, not a secret
                pause = min(2 * pause, self.LONGEST_PAUSE)
                waiting = [entry for entry in self._waiting if not entry.future.done()]  # a request that went away
                self.retries += 1
                outcomes = self._try([entry.unit for entry in waiting], "BEGIN IMMEDIATE")
                if outcomes is None:
                    now = loop.time()
                    for entry in waiting:
                        if entry.deadline <= now:
                            entry.future.set_exception(
                                DatabaseUnavailable(
                                    "the database is locked by another writer",
                                    retry_after=RETRY_AFTER,
                                    detail=f"the write lock stayed taken for {self._timeout:g} s (--db-timeout)",
                                )
                            )
                else:
                    _deliver(waiting, outcomes)
                self._waiting = [entry for entry in self._waiting if not entry.future.done()]
        finally:
            self._retrier = None
            for entry in self._waiting:  # cancelled (the server stopping)
                entry.future.cancel()
            self._waiting = []

    async def _migrate(self) -> None:
        """Apply the numbered scripts in ``migrations/`` that the database has not seen yet, off the loop."""
        await self._thread.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT"
        )
        scripts = migration_scripts("sqlite")
        applied = await self.run_long(applied_versions)
        refuse_newer(applied, scripts)
        for version, name, script in scripts:
            if version not in applied:
                await self.run_long(functools.partial(_apply, version=version, name=name, script=script))


#: The settings of every connection the server opens (but the checkpointer's); ``busy_timeout`` apart.
_PRAGMAS = (
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA wal_autocheckpoint = 0",
)


def _loop_connection(path: Path, timeout: float) -> sqlite3.Connection:
    """The event loop's connection: autocommit (units say ``BEGIN`` and ``COMMIT``), ``busy_timeout`` 0.

    Its settings are made with ``timeout`` (``--db-timeout``) as its busy timeout, and only then is that
    0: at the start, another instance opening the same new file may hold it for a moment (issue 13,
    ``test_two_instances_starting_at_once_on_a_new_sqlite_file_do_not_race`` failed once in CI with
    "database is locked"), and the start waits as the command line would.

    With ``busy_timeout`` 0 a statement that meets another connection's lock fails at once with
    ``SQLITE_BUSY`` instead of sleeping on the loop's thread. ``check_same_thread=False``:
    the server closes it from whichever thread stops it; it is only ever used by one at a time.
    """
    connection = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    for pragma in (*_PRAGMAS, "PRAGMA busy_timeout = 0"):
        connection.execute(pragma)
    return connection


class AiosqliteThread:
    """aiosqlite's connection and its thread, with the one call this module needs that it lacks.

    aiosqlite runs each of its statements on a thread of its own, sent there through
    ``Connection._execute(function)``; it has no public way to send a function of ours, which a
    unit of long work needs: it runs whole on that thread in one hop (decisions 0005, 0026). So
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


def _outcome(transaction: SqliteTransaction, unit: Unit[Any]) -> Any:
    """Run ``unit`` to its end on this thread: its result, or ``_Failed`` with what it raised."""
    try:
        return _complete(unit(transaction))
    except Exception as error:
        return _Failed(error)


def _deliver(entries: list[_Waiting], outcomes: list[Any]) -> None:
    """Answer each unit's caller with its outcome (a caller that went away hears nothing)."""
    for entry, outcome in zip(entries, outcomes, strict=True):
        if entry.future.done():
            continue
        if isinstance(outcome, _Failed):
            entry.future.set_exception(outcome.error)
        else:
            entry.future.set_result(outcome)


def _run_in_savepoint(connection: sqlite3.Connection, transaction: SqliteTransaction, unit: Unit[Any]) -> Any:
    connection.execute("SAVEPOINT unit")
    counted = len(transaction.counted)
    outcome = _outcome(transaction, unit)
    if isinstance(outcome, _Failed):
        connection.execute("ROLLBACK TO unit")
        del transaction.counted[counted:]  # what the unit counted is undone with its rows
    connection.execute("RELEASE unit")
    return outcome


def _begin_long(connection: sqlite3.Connection) -> SqliteTransaction:
    """On aiosqlite's thread: ``BEGIN IMMEDIATE`` (waiting up to ``--db-timeout`` for the lock); the handle."""
    connection.execute("BEGIN IMMEDIATE")
    return SqliteTransaction(connection)


def _unavailable(error: sqlite3.OperationalError | WriteLockBusy) -> DatabaseUnavailable:
    """What a long unit that met the lock past ``--db-timeout`` fails with; any other error is raised as it is."""
    if isinstance(error, sqlite3.OperationalError) and not _locked(error):
        raise error
    return DatabaseUnavailable("the database is locked by another writer", retry_after=RETRY_AFTER, detail=str(error))


def _roll_back(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK")


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
    """The most trivial unit of work, ``SELECT 1`` under the write lock: the readiness probe's proof that
    units run (issue 17), the writing ones too."""
    await tx.take_write_lock()
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
