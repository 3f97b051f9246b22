"""Whether this server can answer requests: its database runs a unit of work and its signing keys are loaded.

A readiness probe (Kubernetes, a load balancer) asks this every few seconds, so the check is
cheap and bounded: one trivial unit of work (``SELECT 1`` under the write lock, ``db.ping``, so
a database whose write lock another process keeps fails it, as it fails every request that writes), in
which the signing keys are read from their cache (``tokens/keys.py``: from the database only
when it changed or they were never loaded). The whole check gives up after ``READY_TIMEOUT``
seconds: a probe must never hang on a locked or stuck database. What is wrong is named by part,
``database`` or ``keys``, in words that carry no secret (docs/decisions/0033).
"""

import asyncio
import logging

from mcp_authz.authorization_server.db import Database, Transaction, ping
from mcp_authz.authorization_server.tokens.keys import Keys, UnopenableKeys

log = logging.getLogger("authorization_server")

#: Seconds the readiness check waits for its unit of work; below Kubernetes' default probe timeout (1 s).
READY_TIMEOUT = 0.9


class Readiness:
    def __init__(self, db: Database, keys: Keys, timeout: float = READY_TIMEOUT) -> None:
        self._db = db
        self._keys = keys
        self._timeout = timeout

    async def problems(self) -> dict[str, str]:
        """What keeps the server from answering, by part (``database``, ``keys``); empty when it is ready."""
        try:
            async with asyncio.timeout(self._timeout):
                keys_problem = await self._db.run(self._check)
        except TimeoutError:
            log.warning("readiness: the database did not answer within %g s", self._timeout)
            return {"database": f"no answer within {self._timeout:g} s"}
        except Exception as error:  # whatever stops a unit of work (closed, I/O error, locked) stops every request
            log.warning("readiness: the database failed: %s", error)
            return {"database": f"unavailable ({type(error).__name__})"}
        return {"keys": keys_problem} if keys_problem else {}

    async def _check(self, tx: Transaction) -> str | None:
        await ping(tx)
        try:
            await self._keys.key_set(tx)
        except (UnopenableKeys, ValueError, RuntimeError) as error:  # sealed with another key, unreadable, none
            log.warning("readiness: the signing keys are not loaded: %s", error)
            return "the signing keys cannot be loaded"
        return None
