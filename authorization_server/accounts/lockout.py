"""Locking a username after repeated failed passwords (OAuth 2.1 §7.2, RFC 9700 §4.16).

After ``failures`` wrong passwords for one username within ``window`` seconds, every sign-in
with that username is refused for ``duration`` seconds, whatever the password, so guessing
stops even when it comes from many addresses. Unknown usernames are counted and locked exactly
like real ones: the answer never tells whether an account exists.

The counts live in this process's memory: a restart forgets them, and two server processes
would count apart (docs/decisions/0011).
"""

import math
import time
from collections.abc import Callable

from authorization_server.accounts.service import MAX_USERNAME_LENGTH
from authorization_server.errors import TooManyRequests

#: Usernames tracked before the ones with nothing left to remember are dropped.
MAX_TRACKED = 100_000


class LoginLockout:
    def __init__(
        self, *, failures: int, window: int, duration: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._failures = failures
        self._window = window
        self._duration = duration
        self._clock = clock
        self._recent: dict[str, list[float]] = {}  # username -> times of its recent failures
        self._locked_until: dict[str, float] = {}

    def check(self, username: str) -> None:
        """Raise :class:`TooManyRequests` while ``username`` is locked."""
        until = self._locked_until.get(key(username), 0.0)
        wait = math.ceil(until - self._clock())
        if wait > 0:
            minutes = math.ceil(wait / 60)
            raise TooManyRequests(
                f"Too many failed sign-ins for this username. Try again in {minutes} minute{'s' * (minutes > 1)}.",
                retry_after=wait,
            )

    def failed(self, username: str) -> None:
        """Count a wrong password; the one that reaches ``failures`` locks the username."""
        now = self._clock()
        if len(self._recent) + len(self._locked_until) >= MAX_TRACKED:
            self._forget_old(now)
        name = key(username)
        recent = [moment for moment in self._recent.get(name, []) if moment > now - self._window]
        recent.append(now)
        if len(recent) >= self._failures:
            self._locked_until[name] = now + self._duration
            self._recent.pop(name, None)
        else:
            self._recent[name] = recent

    def succeeded(self, username: str) -> None:
        """A right password clears the failures counted so far."""
        self._recent.pop(key(username), None)

    def _forget_old(self, now: float) -> None:
        self._recent = {name: times for name, times in self._recent.items() if times[-1] > now - self._window}
        self._locked_until = {name: until for name, until in self._locked_until.items() if until > now}


def key(username: str) -> str:
    """No username is longer than this, so a longer one is counted by its start (memory stays bounded)."""
    return username[:MAX_USERNAME_LENGTH]
