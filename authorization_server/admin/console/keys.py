"""The signing keys page's use cases: ``keys list|rotate`` (RFC 7517, docs/decisions/0027)."""

from dataclasses import dataclass
from datetime import datetime

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Database
from mcp_authz.authorization_server.tokens.keys import Keys


@dataclass(frozen=True)
class KeyLine:
    """A signing key as the console lists it (``keys list``)."""

    kid: str
    alg: str
    created_at: datetime
    #: ``next, signs from …``, ``current``, ``published until …`` or ``retired``.
    state: str


class KeyConsole:
    """``keys list|rotate`` for the console (RFC 7517 JWK Set, docs/decisions/0027), through the server's ``Keys``."""

    def __init__(self, db: Database, *, keys: Keys, alg: str) -> None:
        self._db = db
        self._keys = keys
        self._alg = alg

    async def list(self) -> list[KeyLine]:
        stored = await self._db.run(self._keys.listed)
        now = clock.now()
        return [KeyLine(key.kid, key.alg, key.created_at, key.state(now)) for key in reversed(stored)]

    async def rotate(self) -> str:
        """A new key, published at once, signing after the activation delay (issue 13); the previous one stays
        published. Its ``kid``."""
        key = await self._db.run(lambda tx: self._keys.rotate(tx, self._alg))
        return key.kid
