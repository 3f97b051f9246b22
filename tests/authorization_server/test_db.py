"""Units of work and group commit (decisions 0005 and 0026; issue 6, reliability).

Every request's database work is one unit given to ``Database.run``. These tests open the
store itself on a real SQLite file: units that queue together commit together, yet each one
is atomic on its own, its caller hears of its commit only after it happened, and a unit that
tries to wait for anything but the database fails instead of blocking the thread.
"""

import asyncio
import inspect
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from mcp_authz.authorization_server.db import (
    AiosqliteThread,
    Database,
    DatabaseUnavailable,
    SqliteDatabase,
    Transaction,
)
from mcp_authz.authorization_server.engines import COPY_BATCH, copy_database, open_database
from mcp_authz.authorization_server.maintenance.batches import BATCH, in_batches
from tests.postgresql import Databases

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "store.sqlite3")
    await database.run(lambda tx: tx.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"))
    yield database
    await database.close()


def add(text: str, *, then_fail: bool = False):
    async def unit(tx: Transaction) -> int:
        await tx.execute("INSERT INTO notes (text) VALUES (?)", (text,))
        if then_fail:
            raise ValueError(f"{text} refused")
        row = await tx.fetch_one("SELECT count(*) FROM notes")
        assert row is not None
        return int(row[0])

    return unit


def texts(path: Path) -> list[str]:
    """What another connection (the command line's, say) sees committed."""
    with closing(sqlite3.connect(path)) as other:
        return [text for (text,) in other.execute("SELECT text FROM notes ORDER BY id")]


class TestGroupCommit:
    async def test_units_queued_together_each_get_their_own_result(self, db: Database):
        """0026: units submitted at once run in order in one transaction and each answers its own caller."""
        counts = await asyncio.gather(*(db.run(add(f"note {n}")) for n in range(20)))

        assert sorted(counts) == list(range(1, 21))

    async def test_a_failing_unit_leaves_no_row_and_does_not_undo_the_others_in_its_group(
        self, db: Database, tmp_path: Path
    ):
        """0005: a unit is atomic; its savepoint rolls back alone, the units beside it commit."""
        outcomes = await asyncio.gather(
            db.run(add("before")), db.run(add("refused", then_fail=True)), db.run(add("after")), return_exceptions=True
        )

        assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "refused refused"
        assert texts(tmp_path / "store.sqlite3") == ["before", "after"]

    async def test_a_unit_is_committed_when_its_caller_hears_of_it(self, db: Database, tmp_path: Path):
        """0026: nothing is answered before the commit that holds it; another connection sees the row at once."""
        await db.run(add("acknowledged"))

        assert texts(tmp_path / "store.sqlite3") == ["acknowledged"]


class TestTheRuleOfAUnit:
    async def test_a_unit_that_waits_for_something_else_fails_and_leaves_nothing(self, db: Database, tmp_path: Path):
        """0026: a unit may wait for the database only; anything else is a bug that fails loudly, not a stall."""

        async def waits(tx: Transaction) -> None:
            await tx.execute("INSERT INTO notes (text) VALUES ('half')")
            await asyncio.sleep(0.01)

        with pytest.raises(RuntimeError):
            await db.run(waits)
        assert texts(tmp_path / "store.sqlite3") == []
        assert await db.run(add("next")) == 1  # the thread and the store go on

    async def test_run_inside_a_unit_joins_it(self, db: Database, tmp_path: Path):
        """0005: a service reloading its cache from inside a unit joins that unit instead of queueing behind it."""

        async def outer(tx: Transaction) -> int:
            await tx.execute("INSERT INTO notes (text) VALUES ('outer')")
            return await db.run(add("inner"))  # sees the outer unit's row: the same transaction

        assert await db.run(outer) == 2
        assert texts(tmp_path / "store.sqlite3") == ["outer", "inner"]


class TestAttempt:
    async def test_a_part_that_raises_undoes_only_its_own_writes(self, db: Database, tmp_path: Path):
        """Issue 13: the token limit's spend stays when the grant after it fails; the grant's rows go."""

        async def unit(tx: Transaction) -> str:
            await tx.execute("INSERT INTO notes (text) VALUES ('spent')")
            try:
                await tx.attempt(add("grant", then_fail=True))
            except ValueError as refused:
                return str(refused)
            return "granted"

        assert await db.run(unit) == "grant refused"
        assert texts(tmp_path / "store.sqlite3") == ["spent"]


async def count_notes(tx: Transaction) -> int:
    row = await tx.fetch_one("SELECT count(*) FROM notes")
    assert row is not None
    return int(row[0])


@pytest.fixture
async def held(tmp_path: Path) -> AsyncIterator[tuple[SqliteDatabase, sqlite3.Connection]]:
    """A store with ``--db-timeout`` 30, and another connection (the command line's) holding its write lock."""
    database = await SqliteDatabase.open(tmp_path / "store.sqlite3", timeout=30)
    await database.run(lambda tx: tx.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"))
    with closing(sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        yield database, other
        if other.in_transaction:
            other.execute("COMMIT")
    await database.close()


@pytest.mark.sqlite_only("SQLite's write lock, on a store of the test's own: the SQLite pass runs it")
class TestTheWriteLockOfAnotherConnection:
    """Issue 14, decision 0005: units run on the event loop's thread with ``busy_timeout`` 0; a lock held
    elsewhere makes the writing units wait without blocking the loop, and the reading ones not at all."""

    async def test_issue_14_a_reader_is_answered_while_a_writer_waits_for_the_lock_then_commits(self, held):
        database, other = held
        writer = asyncio.ensure_future(database.run(add("waited")))

        assert await database.run(count_notes) == 0  # answered with the lock still held elsewhere
        assert not writer.done()
        other.execute("COMMIT")
        assert await writer == 1
        assert database.retries >= 1

    async def test_issue_14_a_unit_that_swallows_the_lock_error_is_still_rolled_back_and_run_again(self, held):
        """What a unit does with ``WriteLockBusy`` does not matter: its transaction met the lock, so it runs again."""
        database, other = held

        async def swallows(tx: Transaction) -> str:
            try:
                await tx.execute("INSERT INTO notes (text) VALUES ('once')")
            except Exception:
                return "swallowed"
            return "written"

        unit = asyncio.ensure_future(database.run(swallows))
        assert await database.run(count_notes) == 0
        other.execute("COMMIT")

        assert await unit == "written"
        assert await database.run(count_notes) == 1

    async def test_issue_14_a_writer_waiting_past_db_timeout_is_unavailable_and_writes_nothing(self, tmp_path: Path):
        """Issue 14: past ``--db-timeout`` a waiting unit fails with ``DatabaseUnavailable`` (503): nothing written."""
        database = await SqliteDatabase.open(tmp_path / "store.sqlite3", timeout=0.2)
        try:
            await database.run(lambda tx: tx.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"))
            with closing(sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)) as other:
                other.execute("BEGIN IMMEDIATE")
                with pytest.raises(DatabaseUnavailable):
                    await database.run(add("refused"))
                other.execute("COMMIT")
            assert texts(tmp_path / "store.sqlite3") == []
        finally:
            await database.close()

    async def test_decision_0005_long_work_waits_for_the_lock_on_its_own_thread_while_the_loop_serves(self, held):
        """Decision 0005: ``run_long`` (maintenance, ``db copy``) waits on aiosqlite's thread, never on the loop's."""
        database, other = held

        async def where(tx: Transaction) -> int:
            await tx.execute("INSERT INTO notes (text) VALUES ('long')")
            return threading.get_ident()

        long = asyncio.ensure_future(database.run_long(where))
        assert await database.run(count_notes) == 0
        other.execute("COMMIT")

        assert await long != threading.get_ident()
        assert await database.run(count_notes) == 1


class TestMaintenanceInBatches:
    async def test_issue_14_a_large_sweep_commits_batch_by_batch(self, db: Database, tmp_path: Path):
        """Issue 14, decision 0005: a maintenance sweep of more than BATCH rows is several short units, each
        committed before the next (another connection sees the rows go BATCH at a time), so that a request's
        unit waits for one batch at most, not for the whole sweep, which on a large database took longer than
        --db-timeout (a 503); a request made meanwhile is answered; every row is still swept."""
        rows = 2 * BATCH + 34
        old_notes = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO notes (text) SELECT 'old' FROM n"
        )
        await db.run(lambda tx: tx.execute(old_notes, (rows,)))
        left_before_each_unit: list[int] = []
        loop, requests = asyncio.get_running_loop(), []

        async def sweep(tx: Transaction, limit: int) -> int:
            left_before_each_unit.append(texts(tmp_path / "store.sqlite3").count("old"))  # committed, as others see
            if len(left_before_each_unit) == 2:  # a request, mid-sweep (the sweep's units run on a thread of their own)
                loop.call_soon_threadsafe(lambda: requests.append(loop.create_task(db.run(add("request")))))
            return await tx.execute(
                "DELETE FROM notes WHERE id IN (SELECT id FROM notes WHERE text = 'old' LIMIT ?)", (limit,)
            )

        swept = await in_batches(db, sweep)
        await asyncio.gather(*requests)

        assert swept == rows
        assert left_before_each_unit == [rows, rows - BATCH, rows - 2 * BATCH]
        assert texts(tmp_path / "store.sqlite3") == ["request"]


class TestAiosqliteInternals:
    """0026: ``AiosqliteThread`` uses two internals of aiosqlite; these fail, by name, if an upgrade changes them."""

    def test_connection_execute_is_a_coroutine_taking_a_function_and_its_arguments(self):
        """0026: ``aiosqlite.Connection._execute(fn, *args, **kwargs)`` exists, a coroutine function."""
        execute = aiosqlite.Connection._execute

        assert inspect.iscoroutinefunction(execute)
        parameters = list(inspect.signature(execute).parameters.values())
        assert [(p.name, p.kind) for p in parameters] == [
            ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            ("fn", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            ("args", inspect.Parameter.VAR_POSITIONAL),
            ("kwargs", inspect.Parameter.VAR_KEYWORD),
        ]

    def test_connection_conn_is_a_property(self):
        """0026: ``aiosqlite.Connection._conn`` exists, a property (the thread's ``sqlite3.Connection``)."""
        assert isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn"), property)

    async def test_a_call_runs_on_aiosqlites_own_thread_with_its_own_connection(self, tmp_path: Path):
        """0026: ``call`` runs on the thread aiosqlite runs its statements on, with the connection they use."""
        thread = await AiosqliteThread.connect(tmp_path / "store.sqlite3")
        try:
            connection = thread._connection
            # Through aiosqlite's public API only: the thread its statements run on, and a row on its connection.
            await connection.create_function("thread_ident", 0, threading.get_ident)
            async with connection.execute("SELECT thread_ident()") as cursor:
                row = await cursor.fetchone()
            assert row is not None
            aiosqlite_thread = row[0]
            await connection.execute("CREATE TEMP TABLE seen (what TEXT)")  # TEMP: visible on this connection only
            await connection.execute("INSERT INTO seen VALUES ('from aiosqlite')")

            def look(sqlite_connection: sqlite3.Connection, limit: int) -> tuple[int, list[str]]:
                rows = sqlite_connection.execute("SELECT what FROM seen LIMIT ?", (limit,))
                return threading.get_ident(), [what for (what,) in rows]

            ident, rows = await thread.call(look, 10)

            assert ident == aiosqlite_thread != threading.get_ident()
            assert rows == ["from aiosqlite"]
        finally:
            await thread.close()

    async def test_a_call_that_raises_gives_its_exception_to_the_caller(self, tmp_path: Path):
        """0026: a group that cannot begin or commit fails every unit in it with that error: it must reach us."""
        thread = await AiosqliteThread.connect(tmp_path / "store.sqlite3")
        try:

            def fails(sqlite_connection: sqlite3.Connection) -> None:
                sqlite_connection.execute("SELECT * FROM no_such_table")

            with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
                await thread.call(fails)
            assert await thread.call(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1  # the thread goes on
        finally:
            await thread.close()


# db copy, in batches -----------------------------------------------------------------------------

#: More journeys than a batch of ``db copy`` holds (COPY_BATCH), made by SQL in the source's setup.
JOURNEYS = 2500
MAKE_JOURNEYS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
    " INSERT INTO authorization_journeys (id, issuer, status, created_at, updated_at)"
    " SELECT 'jrn_' || i, 'http://localhost:9000', 'failed', '2026-01-01T00:00:00+00:00',"
    " '2026-01-01T00:00:00+00:00' FROM n"
)
MAKE_EVENTS = (
    "INSERT INTO journey_events (journey_id, step, at)"
    " SELECT id, 'failed', '2026-01-01T00:00:00+00:00' FROM authorization_journeys"
)


@pytest.fixture(name="copy_ends")
async def _copy_ends(
    tmp_path: Path, databases: Databases | None, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Database, Database]]:
    """A source holding JOURNEYS journeys (an event each) and an empty target: a SQLite file and a database of
    the run's engine (a PostgreSQL one on ``--engine postgresql``), the file the source or the target as
    ``request.param`` (``from_sqlite``, ``to_sqlite``) says."""
    url = databases.new() if databases is not None else None
    engine_db = await open_database(url or tmp_path / "engine.sqlite3")
    sqlite_db = await open_database(tmp_path / "file.sqlite3")
    source, target = (sqlite_db, engine_db) if request.param == "from_sqlite" else (engine_db, sqlite_db)
    await source.run(lambda tx: tx.execute(MAKE_JOURNEYS, (JOURNEYS,)))
    await source.run(lambda tx: tx.execute(MAKE_EVENTS))
    try:
        yield source, target
    finally:
        await sqlite_db.close()
        await engine_db.close()
        if databases is not None and url is not None:
            databases.drop(url)


class SourceLost(Exception):
    """What ``watch_reads`` raises mid-copy (no engine's own error, which it would translate)."""


def watch_reads(source: Database, monkeypatch: pytest.MonkeyPatch, *, fail_after: int | None = None) -> list[Any]:
    """Record each batch ``db copy`` reads from ``source``, as (table, rows); with ``fail_after``, reading the
    journeys fails after that many of their batches, as a source that went away mid-copy would."""
    fetched: list[tuple[str, int]] = []
    stepwise = source.run_stepwise

    async def watched_unit(unit: Callable[[Transaction], Coroutine[Any, Any, Any]]) -> Any:
        async def watched(tx: Transaction) -> Any:
            fetch_batches = tx.fetch_batches

            async def counted(sql: str, params: Any = (), size: int = COPY_BATCH) -> AsyncIterator[list[Any]]:
                table = sql.split('"')[1]
                async for rows in fetch_batches(sql, params, size):
                    if table == "authorization_journeys" and fetched.count((table, size)) == fail_after:
                        raise SourceLost("the source went away")
                    fetched.append((table, len(rows)))
                    yield rows

            tx.fetch_batches = counted  # type: ignore[method-assign]
            return await unit(tx)

        return await stepwise(watched)

    monkeypatch.setattr(source, "run_stepwise", watched_unit)
    return fetched


async def count_of(db: Database, table: str) -> int:
    row = await db.run(lambda tx: tx.fetch_one(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names
    assert row is not None
    return int(row[0])


async def test_issue_13_a_unit_reads_a_query_in_batches_of_the_size_asked(db: Database):
    """Issue 13 (``db copy``'s reads): inside any unit of the SQLite engine too, ``fetch_batches`` hands the rows
    over ``size`` at a time, in order, and ends after the last."""
    await db.run(lambda tx: tx.execute_many("INSERT INTO notes (text) VALUES (?)", [[str(i)] for i in range(5)]))

    async def batches(tx: Transaction) -> list[list[str]]:
        read = tx.fetch_batches("SELECT text FROM notes ORDER BY id", (), 2)
        return [[row["text"] for row in rows] async for rows in read]

    assert await db.run(batches) == [["0", "1"], ["2", "3"], ["4"]]


@pytest.mark.parametrize("copy_ends", ["from_sqlite", "to_sqlite"], indirect=True)
class TestDbCopyInBatches:
    async def test_issue_13_a_table_larger_than_a_batch_arrives_whole(self, copy_ends: tuple[Database, Database]):
        """Issue 13 (``db copy``, docs/deployment.md): a table of 2,500 journeys, more than a batch of 1,000, is
        copied whole, every row and every column, and the events that reference them after them; the target's
        identity goes on after the copied ids (PostgreSQL)."""
        source, target = copy_ends

        copied = await copy_database(source, target)

        assert (copied["authorization_journeys"], copied["journey_events"]) == (JOURNEYS, JOURNEYS)
        read = "SELECT id, issuer, status, created_at FROM authorization_journeys"
        arrived, sent = [await db.run(lambda tx: tx.fetch_all(read)) for db in (target, source)]
        assert sorted(map(tuple, arrived)) == sorted(map(tuple, sent))
        assert await count_of(target, "journey_events") == JOURNEYS
        await target.run(lambda tx: tx.execute(MAKE_EVENTS))  # new ids, after the copied ones
        assert await count_of(target, "journey_events") == 2 * JOURNEYS

    async def test_issue_13_memory_stays_bounded_no_read_holds_more_than_a_batch(
        self, copy_ends: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch
    ):
        """Issue 13 (``db copy`` of a big deployment): every table is read in batches of at most ``batch`` rows,
        each written before the next is read, never whole (it was one ``fetch_all`` per table, held in memory
        with every other table until the end): 2,500 journeys are read as 400, 400, ..., 100."""
        source, target = copy_ends
        fetched = watch_reads(source, monkeypatch)

        await copy_database(source, target, batch=400)

        assert [rows for table, rows in fetched if table == "authorization_journeys"] == [400] * 6 + [100]
        assert max(rows for _, rows in fetched) <= 400
        assert await count_of(target, "authorization_journeys") == JOURNEYS

    async def test_issue_13_a_copy_that_fails_mid_table_leaves_the_target_empty(
        self, copy_ends: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch
    ):
        """docs/deployment.md ("all in one transaction of the target: if anything fails, the target keeps
        nothing"): the batches already inserted are in the target's one transaction, so a source lost after two
        batches of journeys leaves no row behind, and the target may be copied into again."""
        source, target = copy_ends
        fetched = watch_reads(source, monkeypatch, fail_after=2)

        with pytest.raises(SourceLost):
            await copy_database(source, target)

        assert fetched.count(("authorization_journeys", COPY_BATCH)) == 2  # inserted, then undone
        assert [await count_of(target, table) for table in ("authorization_journeys", "journey_events")] == [0, 0]
        monkeypatch.undo()
        assert (await copy_database(source, target))["authorization_journeys"] == JOURNEYS
