"""Journeys that went nowhere expire, then go (issue 11, item 4).

Anyone can send ``/authorize``, and each accepted request writes a journey, its MCP flow and a
step. Without a cleanup those rows would grow without bound. So:

- a journey left at the sign-in or consent page (``authorization_requested`` or
  ``authenticated``) past its interaction deadline (``interaction_ttl``, 10 minutes), or at a
  downstream provider's authorization (``downstream_authorization``) past its state's lifetime
  (the same), ends as ``expired``, stamped with where it was abandoned;
- a journey that ended without a grant (``failed``, ``denied``, ``expired``) is deleted, with its
  steps and flows, ``journey_retention`` seconds (30 days by default) after it ended: long enough
  to look into what went wrong, short enough to keep the table small.

Journeys that issued tokens (``active``, ``revoked``) stay until their client goes
(``maintenance/clients.py``). The server runs this in its maintenance task every
``client_cleanup_interval`` seconds (``maintenance/schedule.py``); ``python -m authorization_server
journeys cleanup`` runs it now.
"""

from dataclasses import dataclass
from datetime import timedelta

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Database
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.maintenance.batches import in_batches


@dataclass(frozen=True)
class JourneyCleanup:
    #: Journeys that were waiting for the user past their deadline and are now ``expired``.
    expired: int
    #: Journeys that ended without a grant longer than the retention ago, now deleted.
    deleted: int


class JourneyExpiry:
    def __init__(self, db: Database, *, journeys: JourneyService, retention: int) -> None:
        self._db = db
        self._journeys = journeys
        self._retention = timedelta(seconds=retention)

    async def cleanup(self) -> JourneyCleanup:
        """Expire the abandoned journeys, then delete those that ended without a grant before the retention."""

        before = clock.now() - self._retention
        expired = await in_batches(self._db, self._journeys.expire_abandoned)
        deleted = await in_batches(self._db, lambda tx, limit: self._journeys.delete_ended(tx, before, limit))
        return JourneyCleanup(expired, deleted)
