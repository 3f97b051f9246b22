"""The PostgreSQL engine behind the storage seam (issue 13; docs/decisions/0044, 0045).

asyncpg, on the event loop itself (no thread hop), with a pool of connections. A unit of work
(``db.py``) runs on one pooled connection inside one ``REPEATABLE READ`` transaction, and is run
again, whole, when PostgreSQL answers a serialization failure or a deadlock. The read-check-write
units (a code redeemed once, a refresh token rotated once, a journey moved from one status to the
next) write with a compare-and-swap (``UPDATE ... WHERE status = ?``, then the row count): of two
units that update the same row, the second fails with a serialization failure, runs again on the
new snapshot and finds the row changed, as it would have after SQLite's one writer at a time
(``BEGIN IMMEDIATE``). ``SERIALIZABLE`` was measured and rejected (docs/decisions/0045).

Repositories write SQLite's ``?`` placeholders; :func:`to_postgresql` turns them into ``$1``,
``$2`` ... once per statement text (cached). asyncpg's rows (``Record``) are read by name or by
position, as ``sqlite3.Row``. Prepared statements are kept per connection unless
``--db-statement-cache 0`` (behind PgBouncer's transaction pooling).

Migrations are ``migrations/postgresql/NNNN_name.sql``, the twins of SQLite's, applied at start
under an advisory lock, so that two instances starting together against a new database do not
race.
"""

import asyncio
import contextlib
import functools
import random
from collections.abc import AsyncIterator, Iterable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, TypeVar

import asyncpg
import asyncpg.exceptions
from asyncpg.pool import PoolConnectionProxy

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import (
    Database,
    DatabaseUnavailable,
    Engine,
    PoolOptions,
    Row,
    Transaction,
    Unit,
    migration_scripts,
    refuse_newer,
)
from mcp_authz.authorization_server.errors import InvalidRequest
from mcp_authz.authorization_server.metrics import UNIT_RETRIED

T = TypeVar("T")
#: A connection lent by the pool (generic in asyncpg's stubs only).
if TYPE_CHECKING:
    Connection = PoolConnectionProxy[asyncpg.Record]
else:
    Connection = PoolConnectionProxy

#: The key of the advisory lock held while migrations are applied (any fixed number; this one spells "mcpas").
MIGRATION_LOCK = 0x6D63706173
#: How many times a unit is run in all when PostgreSQL keeps answering that it conflicted.
ATTEMPTS = 10
#: The isolation level of every unit (docs/decisions/0045).
ISOLATION: Final = "repeatable_read"
#: Seconds a client is asked to wait before repeating a request that met an unreachable database.
RETRY_AFTER = 2

#: What a lost or refused connection raises: the unit fails with ``DatabaseUnavailable``.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown, cannot connect now
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,  # the connection was closed under the unit
    # the connection broke between two statements (``pg_ctl stop -m fast``): its protocol is left mid-operation
    # and the unit's next statement, or its COMMIT, is refused before it is sent (nothing committed)
    asyncpg.exceptions.InternalClientError,
)
#: What PostgreSQL answers for a string with a NUL character in it, which its text cannot hold.
NOT_TEXT = (asyncpg.exceptions.CharacterNotInRepertoireError, asyncpg.exceptions.UntranslatableCharacterError)
#: What PostgreSQL answers when concurrent transactions conflicted: the unit is run again.
CONFLICT = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)


@functools.lru_cache(maxsize=4096)
def to_postgresql(sql: str) -> str:
    """``sql`` with each ``?`` placeholder numbered, ``$1``, ``$2`` ..., but not those inside quotes."""
    out: list[str] = []
    number = 0
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "?":
            number += 1
            out.append(f"${number}")
            continue
        out.append(char)
    return "".join(out)


def _changed(status: str) -> int:
    """The row count of a command status: ``UPDATE 2`` -> 2, ``INSERT 0 1`` -> 1, ``CREATE TABLE`` -> 0."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresTransaction(Transaction):
    """A PostgreSQL unit's handle: its statements run on the unit's connection, inside its transaction."""

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        status: str = await self._connection.execute(to_postgresql(sql), *params)
        return _changed(status)

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        row: Row | None = await self._connection.fetchrow(to_postgresql(sql), *params)
        return row

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(await self._connection.fetch(to_postgresql(sql), *params))

    async def fetch_batches(self, sql: str, params: Iterable[Any] = (), size: int = 1000) -> AsyncIterator[list[Row]]:
        """Through a cursor of the unit's transaction: PostgreSQL sends ``size`` rows at each fetch."""
        cursor = await self._connection.cursor(to_postgresql(sql), *params)
        while rows := await cursor.fetch(size):
            yield list(rows)

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._connection.executemany(to_postgresql(sql), [tuple(row) for row in rows])

    async def attempt(self, part: Unit[T]) -> T:
        """``part`` in a nested transaction (asyncpg's ``SAVEPOINT``): rolled back to it if ``part`` raises.

        A conflict (serialization failure) raised inside still reaches :meth:`PostgresDatabase.run`,
        which runs the whole unit again.
        """
        async with self._connection.transaction():
            return await part(self)


class PostgresDatabase(Database):
    """A pool of asyncpg connections to one PostgreSQL database."""

    engine: Engine = "postgresql"

    def __init__(self, pool: asyncpg.Pool, options: PoolOptions) -> None:
        self._pool = pool
        self._options = options
        #: The transaction of the unit running in this task, if any: a nested ``run`` joins it.
        self._running: ContextVar[PostgresTransaction | None] = ContextVar(f"unit-{id(self)}", default=None)
        #: How many times a unit was run again after a conflict (the benchmarks and tests read it).
        self.retries = 0

    @classmethod
    async def connect(cls, url: str, options: PoolOptions) -> "PostgresDatabase":
        """Connect a pool to ``url`` and apply the migrations it lacks; ``DatabaseUnavailable`` if unreachable."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=options.size,
                statement_cache_size=options.statement_cache,
                timeout=options.timeout,
            )
        except UNREACHABLE as error:
            raise DatabaseUnavailable(
                "the database cannot be reached", retry_after=RETRY_AFTER, detail=_reason(error)
            ) from None
        database = cls(pool, options)
        try:
            await database._migrate()
        except BaseException:
            await pool.close()
            raise
        return database

    async def close(self) -> None:
        await self._pool.close()

    async def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` in a ``REPEATABLE READ`` transaction, again (at most ``ATTEMPTS`` times) after a conflict.

        A unit that conflicts every time fails with ``DatabaseUnavailable`` (503 + ``Retry-After``).
        """
        joined = self._running.get()
        if joined is not None:
            return await unit(joined)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._attempt(unit)
            except CONFLICT as error:
                if attempt == ATTEMPTS:  # still meeting others' writes: busy, not broken (a 503, never a 500)
                    raise DatabaseUnavailable(
                        "the database is too busy to finish this request",
                        retry_after=RETRY_AFTER,
                        detail=_reason(error),
                    ) from None
                self.retries += 1
                if self._observer is not None:
                    self._observer(UNIT_RETRIED, type(error).__name__)
                # a few milliseconds, growing and jittered, so that the conflicting units do not meet again
                await asyncio.sleep(random.uniform(0, 0.001 * 2**attempt))  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")

    async def _attempt(self, unit: Unit[T]) -> T:
        try:
            connection = await self._pool.acquire(timeout=self._options.timeout)
        except UNREACHABLE as error:
            raise DatabaseUnavailable(
                "the database cannot be reached", retry_after=RETRY_AFTER, detail=_reason(error)
            ) from None
        try:
            transaction = PostgresTransaction(connection)
            token = self._running.set(transaction)
            try:
                async with connection.transaction(isolation=ISOLATION):
                    result = await unit(transaction)
            finally:
                self._running.reset(token)
        except NOT_TEXT:
            # PostgreSQL's text holds no NUL character (SQLite's does): no row can hold such a value, and
            # none is written; the request that brought it is malformed (RFC 6749 §5.2 invalid_request)
            raise InvalidRequest("a parameter holds a character that is not allowed (NUL)") from None
        except UNREACHABLE as error:
            # the others are likely broken too (PostgreSQL restarted): each is replaced when next lent
            await self._pool.expire_connections()
            raise DatabaseUnavailable(
                "the database connection was lost", retry_after=RETRY_AFTER, detail=_reason(error)
            ) from None
        finally:
            await self._release(connection)
        self._tell(transaction)
        return result

    async def _release(self, connection: Connection) -> None:
        """Give ``connection`` back; one that cannot be reset is dropped, never the request's failure.

        When the reset fails, whatever the error (the server gone, ``ConnectionDoesNotExistError``; or the
        protocol left mid-operation by a unit the lost connection interrupted, ``InternalClientError``),
        asyncpg's pool has already terminated the connection and detached it, so calling ``terminate`` on it
        raised ``InterfaceError``: a 500 where a 503 (or, after a commit, the unit's answer) was due.
        The pool opens a new connection when it is next needed.
        """
        with contextlib.suppress(Exception):  # asyncpg terminated it; the unit's outcome stands
            await self._pool.release(connection)

    async def _migrate(self) -> None:
        """Apply the migrations this database lacks, one transaction each, under ``MIGRATION_LOCK``."""
        scripts = migration_scripts("postgresql")
        async with self._pool.acquire() as connection:
            await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await connection.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                applied = {int(row[0]) for row in await connection.fetch("SELECT version FROM schema_migrations")}
                refuse_newer(applied, scripts)
                for version, name, script in scripts:
                    if version in applied:
                        continue
                    async with connection.transaction():
                        await connection.execute(script)  # several statements: the simple query protocol
                        await connection.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                            version,
                            name,
                            clock.to_db(clock.now()),
                        )
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


def _reason(error: BaseException) -> str:
    """What went wrong, for the log: the exception's class and message (never a parameter: asyncpg puts none there)."""
    return f"{type(error).__name__}: {error}"
