"""The counters and sessions every instance shares, kept in the database (issue 13, decision 0046).

Run on a database of their own with the clock held still: the per-client token bucket (RFC 6585 §4),
and the maintenance round that forgets what no longer says anything.
"""

from datetime import timedelta

import pytest

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.accounts.lockout import MAX_LOCK, LoginLockout
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import TooManyRequests
from mcp_authz.authorization_server.maintenance.shared_state import Forgotten, SharedStateUpkeep
from mcp_authz.authorization_server.settings import Rate
from mcp_authz.authorization_server.tokens.keys import Keys
from mcp_authz.authorization_server.tokens.service import TokenService
from mcp_authz.authorization_server.web.rate_limits import SharedLimiter


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


@pytest.mark.anyio
async def test_the_maintenance_round_forgets_only_the_rows_that_say_nothing(db: Database):
    """Issue 13: a lockout record quiet for a day, a bucket untouched for its period, an expired console
    session are deleted; a recent failure and a bucket in use stay."""
    accounts, clients = AccountService(session_ttl=60), ClientService()
    lockout = LoginLockout(failures=1, window=900, duration=900)
    limiter = SharedLimiter(Rate(60, 60), "token requests", clients.spend_request, name="token_client")
    tokens = TokenService(
        Keys(db, timedelta(0), None),
        access_token_ttl=60,
        refresh_token_ttl=60,
        refresh_grace_confidential=10,
        refresh_grace_public=5,
    )
    upkeep = SharedStateUpkeep(db, accounts=accounts, clients=clients, tokens=tokens, token_client=Rate(60, 60))
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
