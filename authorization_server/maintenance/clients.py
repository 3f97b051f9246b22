"""Dynamic registrations expire after an idle period (RFC 7591 §5; USER-NEEDS themes 1-3).

MCP clients register on every new connection, so registrations pile up. A client is *idle*
when it has not been issued a token at /token (a code redeemed, a refresh, client credentials)
for ``client_idle_ttl`` seconds (30 days by default; ``ClientService.used`` keeps the time, to
the hour). An /authorize does not count: anyone who knows a ``client_id`` can send one, so it
proves nothing about the client (issue 11, item 4). An idle client is deleted with its rows
(journeys, their steps and flows, its refresh tokens), but never while it still holds a live
refresh token: an absolute TTL that cut off clients in active use sent their users back to the
consent page every month (USER-NEEDS theme 2). A deleted client that comes back
gets ``401 invalid_client`` at /token, and MCP clients register again (theme 3).

The server runs the cleanup every ``client_cleanup_interval`` seconds (``maintenance/schedule.py``); the
command line runs it on demand (``python -m authorization_server clients cleanup``).
"""

import functools
from datetime import timedelta

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.maintenance.batches import BATCH
from mcp_authz.authorization_server.tokens.service import TokenService


class ClientExpiry:
    def __init__(
        self, db: Database, *, clients: ClientService, journeys: JourneyService, tokens: TokenService, idle_ttl: int
    ) -> None:
        self._db = db
        self._clients = clients
        self._journeys = journeys
        self._tokens = tokens
        self._idle_ttl = timedelta(seconds=idle_ttl)

    async def cleanup(self) -> list[str]:
        """Delete the idle clients without a live grant, with their rows; returns their ids.

        The idle ones are read first, then deleted :data:`BATCH` at a time, each batch a unit of its own
        (``batches.py``) that checks again that its clients are still idle and hold no live token.
        """
        idle_since = clock.now() - self._idle_ttl
        idle = await self._db.run_long(lambda tx: self._clients.idle_since(tx, idle_since))

        async def delete_idle(tx: Transaction, batch: list[str]) -> list[str]:
            still_idle = await self._clients.idle_among(tx, batch, idle_since)
            holding = await self._tokens.clients_holding_live_tokens(tx, still_idle) if still_idle else set()
            expired = [client_id for client_id in still_idle if client_id not in holding]
            if expired:
                await self.delete(tx, expired)
            return expired

        deleted: list[str] = []
        for start in range(0, len(idle), BATCH):
            batch = idle[start : start + BATCH]
            deleted += await self._db.run_long(functools.partial(delete_idle, batch=batch))
        return deleted

    async def delete(self, tx: Transaction, client_ids: list[str]) -> None:
        """Delete the clients with their rows: journeys, their steps and flows, refresh tokens, consents."""
        await self._journeys.delete_for_clients(tx, client_ids)
        await self._clients.delete(tx, client_ids)
