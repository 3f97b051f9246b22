"""Accounts: adding users, checking passwords, and browser sessions after sign-in."""

import asyncio
import re

from authorization_server import clock
from authorization_server.accounts import repository
from authorization_server.accounts.entities import User
from authorization_server.accounts.passwords import dummy_hash, hash_password, verify_password
from authorization_server.db import Database, Transaction
from authorization_server.secrets_at_rest import digest, new_id, new_secret

MAX_USERNAME_LENGTH = 64
USERNAME_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._@-]{{0,{MAX_USERNAME_LENGTH - 1}}}")
MIN_PASSWORD_LENGTH = 8


class AccountService:
    def __init__(self, db: Database, session_ttl: int) -> None:
        self._db = db
        self._session_ttl = session_ttl

    async def add_user(self, username: str, password: str) -> User:
        """Create an account; ``ValueError`` says what is wrong with the name or password."""
        if not USERNAME_PATTERN.fullmatch(username):
            raise ValueError("a username is 1-64 letters, digits and . _ @ -, starting with a letter or digit")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = await asyncio.to_thread(hash_password, password)
        user = User(id=new_id("usr"), username=username, created_at=clock.now())

        async def unit(tx: Transaction) -> User:
            if await repository.user_with_hash(tx, username):
                raise ValueError(f"user {username!r} already exists")
            await repository.add_user(tx, user, password_hash)
            return user

        return await self._db.run(unit)

    async def ensure_user(self, username: str, password: str) -> User:
        """The user ``username``, created with ``password`` if missing (demo mode)."""
        existing = await self._db.run(lambda tx: repository.user_with_hash(tx, username))
        return existing[0] if existing else await self.add_user(username, password)

    async def check_password(self, username: str, password: str) -> User | None:
        """The user, if the password is theirs. Unknown names cost as much time as wrong passwords."""
        found = await self._db.run(lambda tx: repository.user_with_hash(tx, username))
        stored = found[1] if found else await asyncio.to_thread(dummy_hash)
        valid = await asyncio.to_thread(verify_password, password, stored)
        return found[0] if found and valid else None

    async def start_session(self, tx: Transaction, user: User) -> str:
        """A new browser session for ``user``; returns the cookie value (stored only as a digest)."""
        cookie = new_secret()
        await repository.add_session(tx, digest(cookie), user.id, clock.later(self._session_ttl))
        return cookie

    async def session_user(self, tx: Transaction, cookie: str | None) -> User | None:
        """The user signed in with this session cookie, while the session lasts."""
        return await repository.session_user(tx, digest(cookie)) if cookie else None

    async def user(self, tx: Transaction, user_id: str) -> User | None:
        return await repository.user_by_id(tx, user_id)
