"""The maintenance rounds write in short units, so that they never hold the write lock for long.

A round may have many rows to change: the day's expired successor pairs, a month's idle clients,
the journeys past their retention, the day's lockout records, idle token buckets and console
sessions. Done in one unit, the write lock (SQLite's one writer) was held for as long as that took,
seconds on a large database, and every request's unit meanwhile waited for it, then got 503 after
``--db-timeout`` (issue 14: units run on the event loop's thread and wait for another connection's
lock without blocking the loop, decision 0005). Each batch is a unit of its own: a request waits for
one batch at most, milliseconds.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from mcp_authz.authorization_server.db import Database, Transaction

#: Rows one maintenance unit changes at most (and well below SQLite's limit on ``?`` parameters).
BATCH = 500


async def in_batches(db: Database, part: Callable[[Transaction, int], Coroutine[Any, Any, int]]) -> int:
    """Run ``part(tx, BATCH)`` as units of work until one changes fewer than ``BATCH`` rows; how many in all."""
    total = 0
    while True:
        changed: int = await db.run_long(lambda tx: part(tx, BATCH))
        total += changed
        if changed < BATCH:
            return total
