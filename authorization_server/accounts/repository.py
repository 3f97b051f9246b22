"""SQL for the ``users``, ``browser_sessions``, ``sign_in_failures`` and ``admin_sessions`` tables."""

from datetime import datetime

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.accounts.entities import FailureRecord, User
from mcp_authz.authorization_server.db import Row, Transaction


async def add_user(tx: Transaction, user: User, password_hash: str) -> None:
    await tx.execute(
        "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
        (user.id, user.username, password_hash, clock.to_db(user.created_at)),
    )


async def user_with_hash(tx: Transaction, username: str) -> tuple[User, str] | None:
    row = await tx.fetch_one("SELECT * FROM users WHERE username = ?", (username,))
    return (_user(row), row["password_hash"]) if row else None


async def add_session(tx: Transaction, id_hash: str, user_id: str, expires_at: datetime) -> None:
    await tx.execute(
        "INSERT INTO browser_sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (id_hash, user_id, clock.to_db(clock.now()), clock.to_db(expires_at)),
    )


async def session_user(tx: Transaction, id_hash: str) -> User | None:
    row = await tx.fetch_one(
        "SELECT users.* FROM browser_sessions JOIN users ON users.id = browser_sessions.user_id"
        " WHERE browser_sessions.id_hash = ? AND browser_sessions.expires_at > ? AND users.disabled_at IS NULL",
        (id_hash, clock.to_db(clock.now())),
    )
    return _user(row) if row else None


async def delete_session(tx: Transaction, id_hash: str) -> int:
    return await tx.execute("DELETE FROM browser_sessions WHERE id_hash = ?", (id_hash,))


async def user_by_id(tx: Transaction, user_id: str) -> User | None:
    row = await tx.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))
    return _user(row) if row else None


async def all_users(tx: Transaction) -> list[User]:
    return [_user(row) for row in await tx.fetch_all("SELECT * FROM users ORDER BY username")]


async def delete_user(tx: Transaction, user_id: str) -> bool:
    """Delete the account; its browser sessions and consents go with it (foreign keys cascade)."""
    return await tx.execute("DELETE FROM users WHERE id = ?", (user_id,)) == 1


async def set_disabled_at(tx: Transaction, user_id: str, disabled_at: datetime | None) -> None:
    await tx.execute(
        "UPDATE users SET disabled_at = ? WHERE id = ?",
        (clock.to_db(disabled_at) if disabled_at else None, user_id),
    )


async def set_password_hash(tx: Transaction, user_id: str, password_hash: str) -> None:
    await tx.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


async def delete_sessions_of(tx: Transaction, user_id: str) -> int:
    return await tx.execute("DELETE FROM browser_sessions WHERE user_id = ?", (user_id,))


def _user(row: Row) -> User:
    disabled_at = row["disabled_at"]
    return User(
        id=row["id"],
        username=row["username"],
        created_at=clock.from_db(row["created_at"]),
        disabled_at=clock.from_db(disabled_at) if disabled_at else None,
    )


# The sign-in lockout's records (sign_in_failures, migration 0015): written by compare-and-swap on
# ``version`` so that two instances counting a failure at once both count (issue 13).


async def failure_record(tx: Transaction, key: str) -> FailureRecord | None:
    row = await tx.fetch_one("SELECT * FROM sign_in_failures WHERE key = ?", (key,))
    if row is None:
        return None
    failures = tuple(int(moment) for moment in row["failures"].split())
    return FailureRecord(failures, row["locked_until"], row["locks"], row["last_failure"], row["version"])


async def put_failure_record(tx: Transaction, key: str, record: FailureRecord, *, was: int | None) -> bool:
    """Store ``record`` if the row is still at version ``was`` (``None``: there is no row yet); whether it was."""
    values = (" ".join(map(str, record.failures)), record.locked_until, record.locks, record.last_failure)
    if was is None:
        sql = (
            "INSERT INTO sign_in_failures (key, failures, locked_until, locks, last_failure, version)"
            " VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (key) DO NOTHING"
        )
        return await tx.execute(sql, (key, *values)) == 1
    sql = (
        "UPDATE sign_in_failures SET failures = ?, locked_until = ?, locks = ?, last_failure = ?, version = ?"
        " WHERE key = ? AND version = ?"
    )
    return await tx.execute(sql, (*values, was + 1, key, was)) == 1


async def delete_failure_record(tx: Transaction, key: str) -> None:
    await tx.execute("DELETE FROM sign_in_failures WHERE key = ?", (key,))


async def delete_quiet_failure_records(tx: Transaction, now: int, quiet_since: int, limit: int) -> int:
    """Forget at most ``limit`` keys neither locked at ``now`` nor failed since ``quiet_since`` (the upkeep)."""
    return await tx.execute(
        "DELETE FROM sign_in_failures WHERE key IN (SELECT key FROM sign_in_failures"
        " WHERE locked_until <= ? AND last_failure < ? LIMIT ?)",
        (now, quiet_since, limit),
    )


# The operator's console sessions (admin_sessions, migration 0015; docs/decisions/0041).


async def add_admin_session(tx: Transaction, id_hash: str, expires_at: datetime) -> None:
    await tx.execute(
        "INSERT INTO admin_sessions (id_hash, expires_at) VALUES (?, ?)", (id_hash, clock.to_db(expires_at))
    )


async def admin_session_live(tx: Transaction, id_hash: str) -> bool:
    row = await tx.fetch_one(
        "SELECT 1 FROM admin_sessions WHERE id_hash = ? AND expires_at > ?", (id_hash, clock.to_db(clock.now()))
    )
    return row is not None


async def delete_admin_session(tx: Transaction, id_hash: str) -> None:
    await tx.execute("DELETE FROM admin_sessions WHERE id_hash = ?", (id_hash,))


async def delete_expired_admin_sessions(tx: Transaction, limit: int) -> int:
    """Delete at most ``limit`` sessions past their expiry; how many."""
    return await tx.execute(
        "DELETE FROM admin_sessions WHERE id_hash IN"
        " (SELECT id_hash FROM admin_sessions WHERE expires_at <= ? LIMIT ?)",
        (clock.to_db(clock.now()), limit),
    )


async def delete_oldest_admin_sessions(tx: Transaction, keep: int) -> None:
    """Leave at most ``keep`` sessions: those that expire last."""
    await tx.execute(
        "DELETE FROM admin_sessions WHERE id_hash NOT IN"
        " (SELECT id_hash FROM admin_sessions ORDER BY expires_at DESC LIMIT ?)",
        (keep,),
    )
