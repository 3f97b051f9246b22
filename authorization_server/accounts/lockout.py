"""Locking out password guessing, per username *and address* (OAuth 2.1 §7.2, RFC 9700 §4.16, issue 11).

After ``failures`` wrong passwords for one username from one client address within ``window``
seconds, that username is refused *from that address* for ``duration`` seconds, whatever the
password. Each further lock of the same pair lasts twice as long as the one before (15 min,
30 min, 1 h, ... up to a day), until a right password from there, or a day without a failure,
starts it over. Unknown usernames are counted and locked exactly like real ones: the answer never
tells whether an account exists.

The lock is not per username alone: then anyone who knew a username could lock its owner out
from everywhere, the right password included, renewing the lock every 15 minutes forever. An
attacker now only locks out their own address; the owner signing in from another address is
not refused. Guessing from many addresses is bounded per address by the growing locks and the
per-address rate limits (``web/rate_limits.py``); docs/decisions/0011 weighs the trade.

The counts live in the database (``sign_in_failures``, issue 13): every instance serving the
issuer counts the same failures, and a restart forgets nothing. Each method takes the unit of
work's transaction; a failure is counted by compare-and-swap, so two instances counting at once
both count (docs/decisions/0046-several-instances.md).
"""

import math
from dataclasses import replace

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.accounts import repository
from mcp_authz.authorization_server.accounts.entities import FailureRecord
from mcp_authz.authorization_server.accounts.service import MAX_USERNAME_LENGTH
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import TooManyRequests

#: The longest a lock grows to; also how long a key must stay quiet for its locks to be forgotten.
MAX_LOCK = 24 * 3600
#: A compare-and-swap lost this many times in a row means something else is wrong.
MAX_ATTEMPTS = 10


class FailureLock:
    """Failures counted per key; ``failures`` of them within ``window`` lock the key, longer each time.

    ``kind`` starts every key, so that the sign-in form's locks and the admin's never meet.
    """

    def __init__(self, kind: str, *, failures: int, window: int, duration: int) -> None:
        self._kind = kind
        self._failures = failures
        self._window = window
        self._duration = duration

    async def wait(self, tx: Transaction, key: str) -> int:
        """Seconds ``key`` stays locked; 0 when it is not."""
        record = await repository.failure_record(tx, self._key(key))
        return _seconds_until(record.locked_until) if record else 0

    async def failed(self, tx: Transaction, key: str) -> int:
        """Count a failure; the one that reaches ``failures`` locks the key, twice as long as its last lock.

        Returns the seconds the key is now locked for; 0 when it is not.
        """
        stored_key = self._key(key)
        for _ in range(MAX_ATTEMPTS):
            stored = await repository.failure_record(tx, stored_key)
            record = self._count(stored or FailureRecord(), _now_ms())
            if await repository.put_failure_record(tx, stored_key, record, was=stored.version if stored else None):
                return _seconds_until(record.locked_until)
        raise RuntimeError(f"the sign-in failures of one key changed {MAX_ATTEMPTS} times while counting one")

    async def succeeded(self, tx: Transaction, key: str) -> None:
        """The right secret: the failures and locks counted so far are forgotten."""
        await repository.delete_failure_record(tx, self._key(key))

    def _count(self, record: FailureRecord, now: int) -> FailureRecord:
        locks = 0 if now - record.last_failure > MAX_LOCK * 1000 else record.locks
        failures = (*(moment for moment in record.failures if moment > now - self._window * 1000), now)
        if len(failures) < self._failures:
            return replace(record, failures=failures, locks=locks, last_failure=now)
        lock = min(self._duration * 2**locks, max(MAX_LOCK, self._duration))
        return replace(record, failures=(), locked_until=now + lock * 1000, locks=locks + 1, last_failure=now)

    def _key(self, key: str) -> str:
        return f"{self._kind} {key}"


async def forget_quiet(tx: Transaction, limit: int) -> int:
    """Delete at most ``limit`` records of keys not locked and without a failure for a day (the upkeep, in
    batches; issue 13); how many."""
    now = _now_ms()
    return await repository.delete_quiet_failure_records(tx, now, now - MAX_LOCK * 1000, limit)


class LoginLockout:
    """The sign-in form's lock: per username and client address."""

    def __init__(self, *, failures: int, window: int, duration: int) -> None:
        self._lock = FailureLock("login", failures=failures, window=window, duration=duration)

    async def wait(self, tx: Transaction, username: str, address: str) -> int:
        """Seconds ``username`` stays locked for ``address``; 0 when it is not."""
        return await self._lock.wait(tx, key(username, address))

    async def failed(self, tx: Transaction, username: str, address: str) -> int:
        """Count a wrong password from ``address``; the one that reaches ``failures`` locks the pair.

        Returns the seconds of the lock this failure started; 0 when it started none.
        """
        return await self._lock.failed(tx, key(username, address))

    async def succeeded(self, tx: Transaction, username: str, address: str) -> None:
        """A right password clears what this address counted against the username."""
        await self._lock.succeeded(tx, key(username, address))


def refusal(wait: int) -> TooManyRequests:
    """What a locked username is answered (RFC 6585 §4: ``Retry-After``)."""
    minutes = math.ceil(wait / 60)
    return TooManyRequests(
        f"Too many failed sign-ins for this username. Try again in {minutes} minute{'s' * (minutes > 1)}.",
        retry_after=wait,
    )


def key(username: str, address: str) -> str:
    """No username is longer than this, so a longer one is counted by its start (the key stays bounded)."""
    return f"{address} {username[:MAX_USERNAME_LENGTH]}"


def _now_ms() -> int:
    return int(clock.timestamp() * 1000)


def _seconds_until(moment_ms: int) -> int:
    return max(0, math.ceil((moment_ms - _now_ms()) / 1000))
