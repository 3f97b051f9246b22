"""The server's housekeeping, run in one lifespan task: idle clients, abandoned journeys, stale counters.

Every ``client_cleanup_interval`` seconds (an hour by default), and once at start: idle clients
are deleted (``maintenance/clients.py``, RFC 7591 §5), then abandoned journeys expire and those that
ended without a grant past ``journey_retention`` are deleted (``maintenance/journeys.py``, issue 11);
then the shared counters and sessions that no longer say anything (``maintenance/shared_state.py``, issue 13).
A failed round is logged and tried again at the next one.
"""

import asyncio
import logging

from mcp_authz.authorization_server.maintenance.clients import ClientExpiry
from mcp_authz.authorization_server.maintenance.journeys import JourneyExpiry
from mcp_authz.authorization_server.maintenance.shared_state import SharedStateUpkeep

log = logging.getLogger("authorization_server")


class Maintenance:
    def __init__(self, *, clients: ClientExpiry, journeys: JourneyExpiry, shared_state: SharedStateUpkeep) -> None:
        self._clients = clients
        self._journeys = journeys
        self._shared_state = shared_state

    async def run_once(self) -> None:
        """One round; each part's failure is logged without stopping the other."""
        try:
            deleted = await self._clients.cleanup()
        except Exception:
            log.exception("the cleanup of idle clients failed; trying again next round")
        else:
            if deleted:
                log.info("deleted %d idle client(s) without live grants", len(deleted))
        try:
            journeys = await self._journeys.cleanup()
        except Exception:
            log.exception("the cleanup of abandoned journeys failed; trying again next round")
        else:
            if journeys.expired or journeys.deleted:
                log.info(
                    "expired %d abandoned journey(s); deleted %d that ended without a grant",
                    journeys.expired,
                    journeys.deleted,
                )
        try:
            await self._shared_state.cleanup()
        except Exception:
            log.exception("the cleanup of stale lockouts, token buckets and console sessions failed; trying again")

    async def run_every(self, interval: int) -> None:
        """Run a round now, then every ``interval`` seconds, until cancelled."""
        while True:
            await self.run_once()
            await asyncio.sleep(interval)
