"""Time, in one place: the only module of the authorization server that reads a clock.

- :func:`now`: the wall-clock time as an aware UTC ``datetime``; :func:`later` a deadline from it.
  Stored as ISO 8601 text (:func:`to_db`, :func:`from_db`): readable with the plain ``sqlite3``
  shell, and it sorts in time order.
- :func:`timestamp`: the same wall-clock time in seconds since the epoch, for the integer ``iat``
  and ``exp`` of the JWTs we sign (RFC 7519 §2, NumericDate).
- :func:`monotonic`: seconds of a clock that never goes back, for intervals kept in memory (rate
  limit buckets, sign-in locks, caches); wall-clock changes must not move them.

For tests only: :func:`frozen` stops both clocks for the length of a ``with`` block, and
:func:`advance` moves them forward inside it, so an in-process test moves time instead of
sleeping. The server never calls them. Other libraries read the system clock themselves (pyjwt
checks ``exp``, ``iat`` and ``nbf`` when it decodes a JWT): a frozen clock does not move them.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass
class _Frozen:
    """The readings of both clocks while a test holds time still."""

    wall: float
    monotonic: float


_frozen: _Frozen | None = None


def now() -> datetime:
    if _frozen is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(_frozen.wall, UTC)


def timestamp() -> float:
    """Seconds since the epoch (RFC 7519 §2 NumericDate, before rounding): the time :func:`now` reads."""
    return time.time() if _frozen is None else _frozen.wall


def monotonic() -> float:
    """Seconds of a clock that never goes back; only differences between two readings mean anything."""
    return time.monotonic() if _frozen is None else _frozen.monotonic


def later(seconds: int) -> datetime:
    return now() + timedelta(seconds=seconds)


#: The text up to the seconds (no offset) of the seconds :func:`to_db` formatted lately, by
#: (year, month, day, hour, minute, second). A flow's timestamps alternate between now and the
#: deadlines it sets (a code's, a refresh token's), so one slot would be missed at every turn.
_seconds: dict[tuple[int, ...], str] = {}
#: Past this many, the kept seconds are forgotten and kept again as they come.
_KEPT_SECONDS = 256


def to_db(moment: datetime) -> str:
    """ISO 8601 text of ``moment`` in UTC to the microsecond, ``2026-12-03T12:00:00.123456+00:00``.

    The same text as ``isoformat(timespec="microseconds")``, made faster: the date and time up to
    the second are formatted once and kept, only the microseconds per call. ``isoformat`` formats
    through C's ``sprintf``, and a flow writes 24 timestamps: 3% of its instructions (issue 14,
    docs/benchmarks.md "What was optimised").
    """
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    second = (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)
    text = _seconds.get(second)
    if text is None:
        if len(_seconds) >= _KEPT_SECONDS:
            _seconds.clear()
        text = _seconds[second] = utc.replace(microsecond=0).isoformat(timespec="seconds")[: -len("+00:00")]
    return f"{text}.{utc.microsecond:06d}+00:00"


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text)


@contextmanager
def frozen(at: datetime | None = None) -> Iterator[None]:
    """Test only: time stands still at ``at`` (the current time if not given) until the block ends.

    Both clocks stop; :func:`advance` moves them. In-process only: a server started as another
    process keeps its own clock.
    """
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("clock.frozen needs an aware datetime")
    if _frozen is not None:
        raise RuntimeError("the clock is frozen already")
    _frozen = _Frozen(at.timestamp() if at is not None else time.time(), time.monotonic())
    try:
        yield
    finally:
        _frozen = None


def advance(seconds: float) -> None:
    """Test only: move both clocks ``seconds`` forward, inside :func:`frozen`."""
    if _frozen is None:
        raise RuntimeError("clock.advance works only inside clock.frozen()")
    if seconds < 0:
        raise ValueError("time moves forward only (a monotonic clock never goes back)")
    _frozen.wall += seconds
    _frozen.monotonic += seconds
