"""Accounts: adding users, checking passwords, and browser sessions after sign-in."""

import asyncio
import re
from dataclasses import dataclass, field

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.accounts import repository
from mcp_authz.authorization_server.accounts.entities import User
from mcp_authz.authorization_server.accounts.passwords import dummy_hash, hash_password, verify_password
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.secrets_at_rest import digest, new_id, new_secret

MAX_USERNAME_LENGTH = 64
USERNAME_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._@-]{{0,{MAX_USERNAME_LENGTH - 1}}}")
MIN_PASSWORD_LENGTH = 8
#: The password hash of an account whose owner signs in through an identity provider: no password matches it.
NO_PASSWORD = "!"


@dataclass(frozen=True)
class NewUser:
    """An account checked and its password hashed, before the unit that stores it (scrypt takes a thread)."""

    user: User
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class NewPassword:
    """A new password checked and hashed, before the unit that stores it (``users reset-password``)."""

    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class StoredPassword:
    """A user and their password hash as stored, read inside a unit to be checked after it."""

    user: User
    password_hash: str = field(repr=False)


class AccountService:
    """Every method that reads or writes takes the unit of work's transaction (``tx``); the password
    work, which takes a thread of its own and may not run inside a unit, comes before or after it."""

    def __init__(self, session_ttl: int) -> None:
        self._session_ttl = session_ttl

    async def new_user(self, username: str, password: str) -> NewUser:
        """An account to :meth:`add_user`; ``ValueError`` says what is wrong with the name or password."""
        if not USERNAME_PATTERN.fullmatch(username):
            raise ValueError("a username is 1-64 letters, digits and . _ @ -, starting with a letter or digit")
        new_password = await self.new_password(password)
        user = User(id=new_id("usr"), username=username, created_at=clock.now())
        return NewUser(user, new_password.password_hash)

    async def new_password(self, password: str) -> NewPassword:
        """A password to :meth:`set_password`; ``ValueError`` if it is too short."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
        return NewPassword(await asyncio.to_thread(hash_password, password))

    async def add_user(self, tx: Transaction, new: NewUser) -> User:
        """Store the account; ``ValueError`` if the name is taken."""
        if await repository.user_with_hash(tx, new.user.username):
            raise ValueError(f"user {new.user.username!r} already exists")
        await repository.add_user(tx, new.user, new.password_hash)
        return new.user

    async def add_federated_user(self, tx: Transaction, username: str, fallback: str) -> User:
        """An account for a person an identity provider vouches for (issue 16), without a password.

        Named ``username`` (the provider's name and the person's email, say), or ``fallback`` if that
        is taken; the name is for display and for the operator's commands, the key is the provider's
        ``sub`` (``identity_providers/``).
        """
        name = username if await repository.user_with_hash(tx, username) is None else fallback
        user = User(id=new_id("usr"), username=name, created_at=clock.now())
        await repository.add_user(tx, user, NO_PASSWORD)
        return user

    async def ensure_user(self, tx: Transaction, new: NewUser) -> User:
        """The user of that name, stored as ``new`` if missing (demo mode)."""
        existing = await repository.user_with_hash(tx, new.user.username)
        return existing[0] if existing else await self.add_user(tx, new)

    async def stored_password(self, tx: Transaction, username: str) -> StoredPassword | None:
        """What :meth:`check_password` checks a password against, if ``username`` exists."""
        found = await repository.user_with_hash(tx, username)
        return StoredPassword(*found) if found else None

    async def check_password(self, stored: StoredPassword | None, password: str) -> User | None:
        """The user, if the password is theirs. Unknown names cost as much time as wrong passwords."""
        password_hash = stored.password_hash if stored else await asyncio.to_thread(dummy_hash)
        valid = await asyncio.to_thread(verify_password, password, password_hash)
        return stored.user if stored and valid else None

    async def start_session(self, tx: Transaction, user: User) -> str:
        """A new browser session for ``user``; returns the cookie value (stored only as a digest)."""
        cookie = new_secret()
        await repository.add_session(tx, digest(cookie), user.id, clock.later(self._session_ttl))
        return cookie

    async def session_user(self, tx: Transaction, cookie: str | None) -> User | None:
        """The user signed in with this session cookie, while the session lasts."""
        return await repository.session_user(tx, digest(cookie)) if cookie else None

    async def end_session(self, tx: Transaction, cookie: str | None) -> bool:
        """Sign the browser out: its session ends now, whatever its lifetime left; whether there was one."""
        return bool(await repository.delete_session(tx, digest(cookie))) if cookie else False

    async def start_admin_session(self, tx: Transaction, *, keep: int) -> str:
        """A new session of the operator's console; the cookie value (stored only as a digest, shared by every
        instance: issue 13). At most ``keep`` sessions stay: beyond, the oldest ends; expired ones go."""
        cookie = new_secret()
        await repository.delete_expired_admin_sessions(tx, keep)  # there are never more than keep
        await repository.delete_oldest_admin_sessions(tx, keep - 1)
        await repository.add_admin_session(tx, digest(cookie), clock.later(self._session_ttl))
        return cookie

    async def admin_session_live(self, tx: Transaction, cookie: str) -> bool:
        return await repository.admin_session_live(tx, digest(cookie))

    async def end_admin_session(self, tx: Transaction, cookie: str) -> None:
        await repository.delete_admin_session(tx, digest(cookie))

    async def end_expired_admin_sessions(self, tx: Transaction, limit: int) -> int:
        """Delete at most ``limit`` of the console's sessions past their expiry (the maintenance round, in
        batches); how many."""
        return await repository.delete_expired_admin_sessions(tx, limit)

    async def user(self, tx: Transaction, user_id: str) -> User | None:
        return await repository.user_by_id(tx, user_id)

    async def all(self, tx: Transaction) -> list[User]:
        """Every account, by username."""
        return await repository.all_users(tx)

    async def named(self, tx: Transaction, username: str) -> User:
        """The account of that name; ``ValueError`` if there is none (the command line)."""
        found = await repository.user_with_hash(tx, username)
        if found is None:
            raise ValueError(f"no user named {username!r}")
        return found[0]

    async def set_disabled(self, tx: Transaction, username: str, disabled: bool) -> User:
        """Disable the account (it can no longer sign in, its sessions end) or enable it again (issue 17)."""
        user = await self.named(tx, username)
        await repository.set_disabled_at(tx, user.id, clock.now() if disabled else None)
        if disabled:
            await repository.delete_sessions_of(tx, user.id)
        return await self.named(tx, username)

    async def set_password(self, tx: Transaction, username: str, new: NewPassword) -> User:
        """Replace the account's password; every session signed in with the old one ends.

        ``ValueError`` for an account whose owner signs in through an identity provider (issue 16): a
        password would be a second way in that the provider's rules do not govern.
        """
        found = await repository.user_with_hash(tx, username)
        if found is not None and found[1] == NO_PASSWORD:
            raise ValueError(f"{username} signs in through an identity provider and has no password here")
        user = await self.named(tx, username)
        await repository.set_password_hash(tx, user.id, new.password_hash)
        await repository.delete_sessions_of(tx, user.id)
        return user

    async def remove(self, tx: Transaction, user_id: str) -> None:
        """Delete the account: its sessions and consents go with it (foreign keys cascade); its journeys
        stay, without the user. End its grants first (``maintenance/users.py``)."""
        await repository.delete_user(tx, user_id)
