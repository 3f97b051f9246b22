"""The counters and sessions every instance shares, kept in the database (issue 13, decision 0046).

Run on a database of their own with the clock held still: the per-client token bucket (RFC 6585 §4),
and the maintenance round that forgets what no longer says anything.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.accounts.lockout import MAX_LOCK, LoginLockout, forget_quiet
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.engines import open_database
from mcp_authz.authorization_server.errors import TooManyRequests
from mcp_authz.authorization_server.maintenance import batches
from mcp_authz.authorization_server.maintenance.shared_state import Forgotten, SharedStateUpkeep
from mcp_authz.authorization_server.settings import Rate
from mcp_authz.authorization_server.tokens.keys import Keys
from mcp_authz.authorization_server.tokens.service import TokenService
from mcp_authz.authorization_server.web.rate_limits import SharedLimiter
from tests.postgresql import Databases


async def count(db: Database, table: str) -> int:
    async def unit(tx: Transaction) -> int:
        row = await tx.fetch_one(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - fixed names
        return int(row[0]) if row else 0

    return await db.run(unit)


@pytest.mark.anyio
async def test_a_client_bucket_in_the_database_refills_evenly_and_a_refusal_spends_nothing(db: Database):
    """RFC 6585 §4, issue 13: 2 per minute; the third is refused with a retry 30 s on; a refused request,
    undone with its unit, does not push the retry further; 30 s later one more is let through."""
    limiter = SharedLimiter(Rate(2, 60), "token requests for this client", ClientService().spend_request, name="t")
    with clock.frozen():
        await db.run(lambda tx: limiter.take(tx, "client"))
        await db.run(lambda tx: limiter.take(tx, "client"))
        waits = []
        for _ in range(2):
            with pytest.raises(TooManyRequests) as refused:
                await db.run(lambda tx: limiter.take(tx, "client"))
            waits.append(refused.value.retry_after)
        await db.run(lambda tx: limiter.take(tx, "another client"))  # a bucket of its own

        clock.advance(30)
        await db.run(lambda tx: limiter.take(tx, "client"))
        with pytest.raises(TooManyRequests):
            await db.run(lambda tx: limiter.take(tx, "client"))

    assert waits == [30, 30]


@pytest.fixture(name="engine_db")
async def _engine_db(tmp_path: Path, databases: Databases | None) -> AsyncIterator[Database]:
    """A migrated database of the test's own on the run's engine: SQLite, or on ``--engine postgresql`` PostgreSQL."""
    url = databases.new() if databases is not None else None
    database = await open_database(url or tmp_path / "as.db")
    try:
        yield database
    finally:
        await database.close()
        if databases is not None and url is not None:
            databases.drop(url)


def upkeep_of(db: Database, accounts: AccountService, clients: ClientService) -> SharedStateUpkeep:
    tokens = TokenService(
        Keys(db, timedelta(0), None),
        access_token_ttl=60,
        refresh_token_ttl=60,
        refresh_grace_confidential=10,
        refresh_grace_public=5,
    )
    return SharedStateUpkeep(db, accounts=accounts, clients=clients, tokens=tokens, token_client=Rate(60, 60))


@pytest.mark.anyio
async def test_the_maintenance_round_forgets_only_the_rows_that_say_nothing(engine_db: Database):
    """Issue 13: a lockout record quiet for a day, a bucket untouched for its period, an expired console
    session are deleted; a recent failure and a bucket in use stay."""
    db = engine_db
    accounts, clients = AccountService(session_ttl=60), ClientService()
    lockout = LoginLockout(failures=1, window=900, duration=900)
    limiter = SharedLimiter(Rate(60, 60), "token requests", clients.spend_request, name="token_client")
    upkeep = upkeep_of(db, accounts, clients)
    with clock.frozen():
        await db.run(lambda tx: lockout.failed(tx, "old", "203.0.113.7"))
        await db.run(lambda tx: limiter.take(tx, "old client"))
        await db.run(lambda tx: accounts.start_admin_session(tx, keep=100))
        clock.advance(2 * MAX_LOCK)
        await db.run(lambda tx: lockout.failed(tx, "new", "203.0.113.7"))
        await db.run(lambda tx: limiter.take(tx, "new client"))

        forgotten = await upkeep.cleanup()

    assert forgotten == Forgotten(sign_in_records=1, token_buckets=1, admin_sessions=1, grace_successors=0)
    left = [await count(db, table) for table in ("sign_in_failures", "rate_limit_buckets", "admin_sessions")]
    assert left == [1, 1, 0]


#: The shared state's deletes (issue 14's batches, extended to the shared-state upkeep): the table each empties.
DELETES = ("sign_in_failures", "rate_limit_buckets", "admin_sessions")


@pytest.mark.anyio
@pytest.mark.parametrize("table", DELETES)
async def test_issue_14_each_shared_state_delete_runs_in_batches(
    engine_db: Database, table: str, monkeypatch: pytest.MonkeyPatch
):
    """Issue 14 (the write lock held one batch at a time), for the shared-state upkeep (issue 13): the
    lockout records, the idle token buckets and the expired console sessions are each deleted by units of at
    most ``BATCH`` rows, like the journeys, clients and successor pairs. With ``BATCH`` made 2, one unit of the
    delete removes 2 of 5 stale rows and leaves 3 (it was one unbounded unit: all 5), and the round deletes
    the rest, in units of 2, 1, none above the bound."""
    db = engine_db
    monkeypatch.setattr(batches, "BATCH", 2)
    accounts, clients = AccountService(session_ttl=60), ClientService()
    lockout = LoginLockout(failures=1, window=900, duration=900)
    limiter = SharedLimiter(Rate(60, 60), "token requests", clients.spend_request, name="token_client")
    upkeep = upkeep_of(db, accounts, clients)
    make: dict[str, Callable[[int], Awaitable[object]]] = {
        "sign_in_failures": lambda i: db.run(lambda tx: lockout.failed(tx, f"user{i}", "203.0.113.7")),
        "rate_limit_buckets": lambda i: db.run(lambda tx: limiter.take(tx, f"client{i}")),
        "admin_sessions": lambda i: db.run(lambda tx: accounts.start_admin_session(tx, keep=100)),
    }
    one_unit: dict[str, Callable[[Transaction], Coroutine[Any, Any, int]]] = {
        "sign_in_failures": lambda tx: forget_quiet(tx, batches.BATCH),
        "rate_limit_buckets": lambda tx: clients.forget_full_buckets(tx, "token_client", 60, batches.BATCH),
        "admin_sessions": lambda tx: accounts.end_expired_admin_sessions(tx, batches.BATCH),
    }
    with clock.frozen():
        for i in range(5):
            await make[table](i)
        clock.advance(2 * MAX_LOCK)  # every row is stale now

        first_unit = await db.run(one_unit[table])
        left_after_one_unit = await count(db, table)
        forgotten = await upkeep.cleanup()

    assert (first_unit, left_after_one_unit) == (2, 3)
    assert {
        "sign_in_failures": forgotten.sign_in_records,
        "rate_limit_buckets": forgotten.token_buckets,
        "admin_sessions": forgotten.admin_sessions,
    } == {name: 3 if name == table else 0 for name in DELETES}
    assert await count(db, table) == 0
