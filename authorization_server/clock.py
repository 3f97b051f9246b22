"""Time, in one place: timestamps are aware UTC datetimes, stored as ISO 8601 text.

ISO text keeps the database readable with the plain ``sqlite3`` shell and sorts in time order.
"""

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


def later(seconds: int) -> datetime:
    return now() + timedelta(seconds=seconds)


def to_db(moment: datetime) -> str:
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat(timespec="microseconds")


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text)
