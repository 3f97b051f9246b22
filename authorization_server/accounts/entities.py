"""Users: the resource owners who sign in and approve clients."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class User:
    id: str
    username: str
    created_at: datetime
    #: When the operator disabled the account (``users disable``); ``None`` while it may sign in.
    disabled_at: datetime | None = None


@dataclass(frozen=True)
class FailureRecord:
    """What the sign-in lockout remembers of one key (``accounts/lockout.py``), shared by every instance.

    Times are milliseconds since the epoch.
    """

    #: The times of the recent failures, within the window.
    failures: tuple[int, ...] = ()
    locked_until: int = 0
    #: Locks so far: the next one lasts ``duration * 2**locks``.
    locks: int = 0
    last_failure: int = 0
    #: Bumped by every write: the compare-and-swap that keeps two instances from losing a failure.
    version: int = 0
