"""A journey as a timeline: what the command line and the admin pages show of it (issue 4).

A :class:`Timeline` gathers what one journey touched, read through each module's service: the
journey's steps with their times, the client, the MCP server and its connections, the
downstream flows, and the outcome. Both ``journeys list``/``show`` and ``/admin/journeys``
render this one value.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.journeys.entities import JourneyHistory, JourneySearch, JourneyStatus, Step
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.mcp_servers.entities import McpConnection
from mcp_authz.authorization_server.mcp_servers.service import McpServerService

#: What each state says about how the journey ended, or that it has not yet.
OUTCOMES = {
    JourneyStatus.REGISTERED: "in progress: registered, no authorization request yet",
    JourneyStatus.AUTHORIZATION_REQUESTED: "in progress: waiting for the user to sign in",
    JourneyStatus.AUTHENTICATED: "in progress: waiting for the user's consent",
    JourneyStatus.DOWNSTREAM: "in progress: waiting for the downstream providers",
    JourneyStatus.CODE_ISSUED: "in progress: code sent, not redeemed yet",
    JourneyStatus.ACTIVE: "tokens issued",
    JourneyStatus.DENIED: "denied by the user",
    JourneyStatus.FAILED: "failed",
    JourneyStatus.REVOKED: "revoked",
    JourneyStatus.EXPIRED: "expired: abandoned at sign-in, consent or a downstream provider",
}


@dataclass(frozen=True)
class TimelineStep:
    step: Step
    at: datetime
    #: Time since the previous step (since the journey began, for the first).
    took: timedelta
    detail: str | None


@dataclass(frozen=True)
class DownstreamLine:
    """A downstream flow of the journey, with the name of the connection it uses."""

    flow_id: str
    connection_id: str
    connection_name: str
    status: str


@dataclass(frozen=True)
class Timeline:
    journey_id: str
    status: JourneyStatus
    issuer: str
    started_at: datetime
    #: The MCP Authorization Flow linking the journey, the client and the MCP server (seed 000).
    mcp_flow_id: str
    client_id: str
    #: The client's registered name; ``None`` once the client is deleted.
    client_name: str | None
    mcp_server_id: str
    mcp_server_name: str | None
    mcp_server_version: str | None
    user_id: str | None
    #: The connections the MCP server has now, whether or not this journey used them.
    connections: tuple[McpConnection, ...]
    downstream: tuple[DownstreamLine, ...]
    steps: tuple[TimelineStep, ...]
    outcome: str

    @property
    def duration(self) -> timedelta:
        return self.steps[-1].at - self.started_at if self.steps else timedelta(0)


class Timelines:
    """Builds timelines from the journeys, clients and MCP servers services."""

    def __init__(
        self, db: Database, *, journeys: JourneyService, clients: ClientService, mcp_servers: McpServerService
    ) -> None:
        self._db = db
        self._journeys = journeys
        self._clients = clients
        self._mcp_servers = mcp_servers

    async def recent(self, limit: int) -> list[Timeline]:
        """The latest journeys, newest first."""

        async def unit(tx: Transaction) -> list[Timeline]:
            return [await self._timeline(tx, history) for history in await self._journeys.recent(tx, limit)]

        return await self._db.run(unit)

    async def search(self, wanted: JourneySearch) -> list[Timeline]:
        """The journeys the console's filters name, newest first, one page (issue 17)."""

        async def unit(tx: Transaction) -> list[Timeline]:
            return [await self._timeline(tx, history) for history in await self._journeys.search(tx, wanted)]

        return await self._db.run(unit)

    async def get(self, journey_id: str) -> Timeline | None:

        async def unit(tx: Transaction) -> Timeline | None:
            history = await self._journeys.history(tx, journey_id)
            return await self._timeline(tx, history) if history else None

        return await self._db.run(unit)

    async def _timeline(self, tx: Transaction, history: JourneyHistory) -> Timeline:
        journey, flow = history.journey, history.journey.mcp_flow
        client = await self._clients.find(tx, flow.client_id, journey.issuer)
        server = await self._mcp_servers.get(tx, flow.mcp_server_id)
        connections = tuple(await self._mcp_servers.connections(tx, flow.mcp_server_id))
        names = {connection.id: connection.name for connection in connections}
        previous = journey.created_at
        steps = []
        for event in history.events:
            steps.append(TimelineStep(event.step, event.at, event.at - previous, event.detail))
            previous = event.at
        outcome = OUTCOMES[journey.status]
        if journey.failure_reason:
            outcome = f"{outcome}: {journey.failure_reason}"
        return Timeline(
            journey_id=journey.id,
            status=journey.status,
            issuer=journey.issuer,
            started_at=journey.created_at,
            mcp_flow_id=flow.id,
            client_id=flow.client_id,
            client_name=client.display_name if client else None,
            mcp_server_id=flow.mcp_server_id,
            mcp_server_name=server.name if server else None,
            mcp_server_version=flow.mcp_server_version,
            user_id=journey.user_id,
            connections=connections,
            downstream=tuple(
                # A connection's flows are deleted with it (foreign key): each flow's connection is listed.
                DownstreamLine(
                    d.id,
                    d.mcp_connection_id,
                    names[d.mcp_connection_id],
                    f"{d.status}: {d.failure_reason}" if d.failure_reason else str(d.status),
                )
                for d in history.downstream_flows
            ),
            steps=tuple(steps),
            outcome=outcome,
        )
