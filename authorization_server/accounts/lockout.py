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

The counts live in this process's memory: a restart forgets them, and two server processes
would count apart (docs/decisions/0011).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from authorization_server.accounts.service import MAX_USERNAME_LENGTH
from authorization_server.clock import monotonic
from authorization_server.errors import TooManyRequests

#: Keys tracked before the ones with nothing left to remember are dropped.
MAX_TRACKED = 100_000
#: The longest a lock grows to; also how long a key must stay quiet for its locks to be forgotten.
MAX_LOCK = 24 * 3600


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)  # times of the recent failures
    locked_until: float = 0.0
    locks: int = 0  # locks so far: the next one lasts duration * 2**locks
    last_failure: float = 0.0


class FailureLock:
    """Failures counted per key; ``failures`` of them within ``window`` lock the key, longer each time."""

    def __init__(self, *, failures: int, window: int, duration: int, clock: Callable[[], float] = monotonic) -> None:
        self._failures = failures
        self._window = window
        self._duration = duration
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def wait(self, key: str) -> int:
        """Seconds ``key`` stays locked; 0 when it is not."""
        record = self._records.get(key)
        return max(0, math.ceil(record.locked_until - self._clock())) if record else 0

    def failed(self, key: str) -> None:
        """Count a failure; the one that reaches ``failures`` locks the key, twice as long as its last lock."""
        now = self._clock()
        if len(self._records) >= MAX_TRACKED:
            self._forget_old(now)
        record = self._records.setdefault(key, _Record())
        if now - record.last_failure > MAX_LOCK:
            record.locks = 0
        record.last_failure = now
        record.failures = [moment for moment in record.failures if moment > now - self._window] + [now]
        if len(record.failures) >= self._failures:
            record.locked_until = now + min(self._duration * 2**record.locks, max(MAX_LOCK, self._duration))
            record.locks += 1
            record.failures = []

    def succeeded(self, key: str) -> None:
        """The right secret: the failures and locks counted so far are forgotten."""
        self._records.pop(key, None)

    def _forget_old(self, now: float) -> None:
        self._records = {
            key: record
            for key, record in self._records.items()
            if record.locked_until > now or now - record.last_failure <= max(self._window, MAX_LOCK)
        }


class LoginLockout:
    """The sign-in form's lock: per username and client address."""

    def __init__(self, *, failures: int, window: int, duration: int, clock: Callable[[], float] = monotonic) -> None:
        self._lock = FailureLock(failures=failures, window=window, duration=duration, clock=clock)

    def check(self, username: str, address: str) -> None:
        """Raise :class:`TooManyRequests` while ``username`` is locked for ``address``."""
        wait = self._lock.wait(key(username, address))
        if wait > 0:
            minutes = math.ceil(wait / 60)
            raise TooManyRequests(
                f"Too many failed sign-ins for this username. Try again in {minutes} minute{'s' * (minutes > 1)}.",
                retry_after=wait,
            )

    def failed(self, username: str, address: str) -> int:
        """Count a wrong password from ``address``; the one that reaches ``failures`` locks the pair.

        Returns the seconds of the lock this failure started; 0 when it started none.
        """
        self._lock.failed(key(username, address))
        return self._lock.wait(key(username, address))

    def succeeded(self, username: str, address: str) -> None:
        """A right password clears what this address counted against the username."""
        self._lock.succeeded(key(username, address))


def key(username: str, address: str) -> str:
    """No username is longer than this, so a longer one is counted by its start (memory stays bounded)."""
    return f"{address} {username[:MAX_USERNAME_LENGTH]}"
