"""Reading journeys back: each with its steps in order and its downstream flows.

For the operator (``journeys list`` and ``journeys show``, the admin pages), through
``admin/timelines.py``; it changes nothing.
"""

from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.journeys import repository
from mcp_authz.authorization_server.journeys.entities import Journey, JourneyHistory, JourneySearch


async def recent(tx: Transaction, limit: int) -> list[JourneyHistory]:
    """The latest journeys, newest first, each with its steps in order and its downstream flows."""
    return [await _history(tx, journey) for journey in await repository.recent(tx, limit)]


async def search(tx: Transaction, wanted: JourneySearch) -> list[JourneyHistory]:
    """The journeys ``wanted`` names (the console's filters and pages), newest first, each read whole."""
    return [await _history(tx, journey) for journey in await repository.search(tx, wanted)]


async def history(tx: Transaction, journey_id: str) -> JourneyHistory | None:
    """One journey with everything it recorded; ``None`` if there is none."""
    journey = await repository.get(tx, journey_id)
    return await _history(tx, journey) if journey else None


async def _history(tx: Transaction, journey: Journey) -> JourneyHistory:
    return JourneyHistory(
        journey,
        tuple(await repository.events(tx, journey.id)),
        tuple(await repository.downstream_flows(tx, journey.id)),
    )
