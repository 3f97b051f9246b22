"""SQL for the ``users`` and ``browser_sessions`` tables."""

from datetime import datetime

from authorization_server import clock
from authorization_server.accounts.entities import User
from authorization_server.db import Row, Transaction


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
