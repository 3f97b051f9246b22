"""A journey's state machine: created with its MCP flow, moved only along ``TRANSITIONS``, each step stamped.

The primitives every job of journeys/ shares (``service.py``, ``grants.py``, ``downstream.py``,
``upkeep.py``); only :class:`~authorization_server.journeys.service.JourneyService` is called from
outside the package.
"""

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.journeys import repository
from mcp_authz.authorization_server.journeys.entities import (
    TRANSITIONS,
    Event,
    Interaction,
    Journey,
    JourneyStatus,
    McpAuthorizationFlow,
    Step,
)
from mcp_authz.authorization_server.metrics import JOURNEY_ENDED
from mcp_authz.authorization_server.secrets_at_rest import new_id

#: The states a journey ends in; reaching one is counted for the metrics (``as_journeys_ended_total``, issue 17).
ENDED = frozenset({JourneyStatus.DENIED, JourneyStatus.FAILED, JourneyStatus.REVOKED, JourneyStatus.EXPIRED})


async def create(
    tx: Transaction,
    issuer: str,
    status: JourneyStatus,
    client_id: str,
    mcp_server_id: str,
    mcp_server_version: str | None = None,
    interaction: Interaction | None = None,
    user_id: str | None = None,
) -> Journey:
    """A new journey in ``status`` and the MCP flow that links it to its client and MCP server (seed 000);
    with ``interaction``, the authorization request it was created for, and the user already signed in."""
    journey_id = new_id("jrn")
    flow = McpAuthorizationFlow(
        id=new_id("mfl"),
        journey_id=journey_id,
        mcp_server_id=mcp_server_id,
        client_id=client_id,
        mcp_server_version=mcp_server_version,
        created_at=clock.now(),
    )
    await repository.add(tx, journey_id, issuer, status, flow, interaction, user_id)
    journey = repository.created(journey_id, issuer, status, flow)
    return journey if interaction is None else repository.requested(journey, interaction, user_id)


async def move(tx: Transaction, journey: Journey, target: JourneyStatus, **columns: object) -> Journey:
    """Move ``journey`` to ``target``; returns it as it now is, without reading it back.

    Only a move :data:`TRANSITIONS` allows, and only from the state ``journey`` was read in: of two
    concurrent requests one wins, the other gets ``invalid_request``.
    """
    now = clock.now()
    if target not in TRANSITIONS[journey.status] or not await repository.move(
        tx, journey.id, journey.status, target, now, **columns
    ):
        raise InvalidRequest(f"this authorization can no longer move from {journey.status} to {target}")
    if target in ENDED:
        tx.count(JOURNEY_ENDED, target.value)
    return repository.moved(journey, target, now, columns)


def happened(step: Step, detail: str | None) -> Event:
    """``step``, with a detail for the reader (never a secret), as it happens now: for :func:`stamp_all`."""
    return Event(step, clock.now(), detail)


async def stamp(tx: Transaction, journey_id: str, step: Step, detail: str | None) -> None:
    """Record that ``step`` happened now, with a detail for the reader (never a secret)."""
    await repository.add_events(tx, journey_id, (happened(step, detail),))


async def stamp_all(tx: Transaction, journey_id: str, *events: Event) -> None:
    """Record several steps of one unit of work at once, in their order, each at its own time (issue 14)."""
    await repository.add_events(tx, journey_id, events)


async def get(tx: Transaction, journey_id: str) -> Journey:
    """The journey ``journey_id``; ``not_found`` if there is none."""
    journey = await repository.get(tx, journey_id)
    if journey is None:
        raise NotFound(f"no journey {journey_id!r}")
    return journey
