"""Upkeep of journeys: abandoned ones expire, ended ones and those of deleted clients are deleted.

Run by ``maintenance/`` (issue 11, item 4: ``maintenance/journeys.py``; idle clients:
``maintenance/clients.py``), never by a request.
"""

from datetime import datetime

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.journeys import repository, states
from mcp_authz.authorization_server.journeys.entities import ENDED_WITHOUT_GRANT, WAITING_FOR_USER, JourneyStatus, Step

#: Where a journey in each waiting state was left, for its failure reason.
_WHERE = {
    JourneyStatus.AUTHORIZATION_REQUESTED: "at the sign-in page",
    JourneyStatus.AUTHENTICATED: "at the consent page",
    JourneyStatus.DOWNSTREAM: "at a downstream provider's authorization",
}


async def expire_abandoned(tx: Transaction, interaction_ttl: int, limit: int) -> int:
    """End as ``expired`` the journeys left at the sign-in or consent page, or at a downstream provider's
    authorization (issue 4), past their interaction deadline.

    An authorization abandoned at the sign-in page ends as expired after the interaction
    lifetime (issue 11, item 4); its interaction id no longer opens a page, and a late answer of a
    downstream provider is refused. At most ``limit`` of them; returns how many.
    """
    abandoned = await repository.waiting_past(tx, WAITING_FOR_USER, clock.now(), limit)
    for journey in abandoned:
        reason = f"abandoned {_WHERE[journey.status]} for longer than {interaction_ttl} s"
        await states.move(tx, journey, JourneyStatus.EXPIRED, failure_reason=reason, interaction_hash=None)
        await states.stamp(tx, journey.id, Step.EXPIRED, reason)
    return len(abandoned)


async def delete_ended(tx: Transaction, before: datetime, limit: int) -> int:
    """Delete at most ``limit`` journeys that ended without a grant (failed, denied, expired) before ``before``."""
    return await repository.delete_ended_before(tx, ENDED_WITHOUT_GRANT, before, limit)


async def delete_for_clients(tx: Transaction, client_ids: list[str]) -> int:
    """Forget the journeys of clients that are being deleted; returns how many there were."""
    return await repository.delete_for_clients(tx, client_ids)
