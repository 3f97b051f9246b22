"""Downstream Authorization Flows: a journey's visits to its MCP server's providers (issue 4, decisions/0021).

This server is the provider's OAuth client: a flow starts with a single-use ``state`` and a PKCE
verifier (OAuth 2.1 §4.1.1, RFC 7636), is found again by that ``state`` at the callback, and
completes with the provider's tokens, kept sealed (``sealing.py``) until the MCP server exchanges
for them (RFC 8693, ``flow/token/grants/token_exchange.py``).
"""

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.encryption import Sealer
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.journeys import repository, states
from mcp_authz.authorization_server.journeys.entities import (
    DownstreamAuthorizationFlow,
    DownstreamCallback,
    DownstreamFlowStatus,
    DownstreamTokens,
    JourneyStatus,
    Step,
)
from mcp_authz.authorization_server.journeys.sealing import DownstreamSeal
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.secrets_at_rest import digest, matches, new_id


class DownstreamFlows:
    """Starts, finds again, completes or fails a journey's downstream flows, and keeps their tokens sealed."""

    def __init__(self, mcp_servers: McpServerService, *, interaction_ttl: int, sealer: Sealer | None) -> None:
        self._mcp_servers = mcp_servers
        #: How long a started flow's ``state`` may take to come back.
        self._interaction_ttl = interaction_ttl
        self._seal = DownstreamSeal(sealer)

    @property
    def can_seal(self) -> bool:
        """Whether downstream tokens can be kept: ``downstream_token_key`` is set."""
        return self._seal.can_seal

    async def start(
        self, tx: Transaction, journey_id: str, connection_id: str, *, state: str, code_verifier: str, redirect_uri: str
    ) -> DownstreamAuthorizationFlow:
        """Seed 000: a Downstream Authorization Flow links the journey and a connection of its own MCP server.

        A connection of another MCP server is refused here, with the reason; the schema's
        triggers (migrations/0001) refuse it too, as the last line of defence. The flow keeps the
        digest of its ``state`` and its PKCE ``code_verifier``, sealed, for the callback.
        """
        journey = await states.get(tx, journey_id)
        connection = await self._mcp_servers.connection(tx, connection_id)
        if connection is None:
            raise NotFound(f"no MCP connection {connection_id!r}")
        server_id = journey.mcp_flow.mcp_server_id
        if connection.mcp_server_id != server_id:
            raise InvalidRequest(
                f"MCP connection {connection.id!r} belongs to MCP server {connection.mcp_server_id!r},"
                f" not to {server_id!r}, the MCP server of journey {journey.id!r}"
            )
        now = clock.now()
        state_expires_at = clock.later(self._interaction_ttl)
        flow = DownstreamAuthorizationFlow(
            id=new_id("dfl"),
            journey_id=journey.id,
            mcp_connection_id=connection.id,
            status=DownstreamFlowStatus.STARTED,
            created_at=now,
            updated_at=now,
        )
        await repository.add_downstream_flow(
            tx,
            flow,
            state_hash=digest(state),
            state_expires_at=state_expires_at,
            redirect_uri=redirect_uri,
            code_verifier_sealed=self._seal.seal(code_verifier, flow.id, "code_verifier"),
        )
        # the person is at the provider until the state expires: then the journey was abandoned (upkeep.py)
        await repository.extend_interaction(tx, journey.id, state_expires_at)
        detail = f"connection {connection.name} ({connection.id})"
        await states.stamp(tx, journey.id, Step.DOWNSTREAM_FLOW_STARTED, detail)
        return flow

    async def take_callback(self, tx: Transaction, state: str, browser_secret: str | None) -> DownstreamCallback:
        """The started flow whose ``state`` came back to the callback; the state is used up (single use).

        Unknown or used states, and those that waited too long, are ``invalid_request``; the
        journey of a late one fails.
        """
        started = await repository.take_downstream_state(tx, digest(state))
        if started is None:
            raise InvalidRequest("This answer from the provider is not valid, or it was already used.")
        flow = started.flow
        journey = await states.get(tx, flow.journey_id)
        if flow.status is not DownstreamFlowStatus.STARTED or journey.status is not JourneyStatus.DOWNSTREAM:
            raise InvalidRequest("This answer from the provider is not valid, or it was already used.")
        browser_hash = await repository.browser_hash(tx, journey.id)
        return DownstreamCallback(
            flow=flow,
            journey=journey,
            redirect_uri=started.redirect_uri,
            code_verifier=self._seal.open(started.code_verifier_sealed, flow.id, "code_verifier"),
            same_browser=bool(browser_secret and browser_hash and matches(browser_secret, browser_hash)),
            expired=started.state_expires_at < clock.now(),
        )

    async def complete(
        self, tx: Transaction, flow: DownstreamAuthorizationFlow, tokens: DownstreamTokens, provider: str
    ) -> None:
        """The provider's code was exchanged: keep its tokens, sealed, and stamp the journey."""
        now = clock.now()
        await self._set(
            tx,
            flow,
            DownstreamFlowStatus.STARTED,
            DownstreamFlowStatus.COMPLETED,
            completed_at=now,
            code_verifier_sealed=None,
            **self._seal.sealed_tokens(flow.id, tokens),
        )
        await states.stamp(tx, flow.journey_id, Step.DOWNSTREAM_FLOW_COMPLETED, f"{provider}: tokens kept, sealed")

    async def fail(self, tx: Transaction, flow: DownstreamAuthorizationFlow, reason: str, *, denied: bool) -> None:
        """The downstream flow ended without tokens; so does its journey: denied, or failed (issue 4)."""
        await self._set(
            tx,
            flow,
            DownstreamFlowStatus.STARTED,
            DownstreamFlowStatus.FAILED,
            failure_reason=reason,
            code_verifier_sealed=None,
        )
        await states.stamp(tx, flow.journey_id, Step.DOWNSTREAM_FLOW_FAILED, reason)
        journey = await states.get(tx, flow.journey_id)
        target = JourneyStatus.DENIED if denied else JourneyStatus.FAILED
        await states.move(tx, journey, target, failure_reason="access_denied" if denied else reason)

    async def tokens(
        self, tx: Transaction, journey_id: str, connection_id: str
    ) -> tuple[DownstreamAuthorizationFlow, DownstreamTokens] | None:
        """The user's tokens at a connection's provider, from the journey's completed flow; else ``None``."""
        completed = await repository.completed_downstream_flow(tx, journey_id, connection_id)
        if completed is None:
            return None
        return completed.flow, self._seal.opened_tokens(completed)

    async def replace_tokens(
        self, tx: Transaction, flow: DownstreamAuthorizationFlow, tokens: DownstreamTokens, step: Step, detail: str
    ) -> None:
        """Keep the provider's new tokens (a refresh rotates them) and stamp why."""
        await self._set(
            tx,
            flow,
            DownstreamFlowStatus.COMPLETED,
            DownstreamFlowStatus.COMPLETED,
            **self._seal.sealed_tokens(flow.id, tokens),
        )
        await states.stamp(tx, flow.journey_id, step, detail)

    async def _set(
        self,
        tx: Transaction,
        flow: DownstreamAuthorizationFlow,
        source: DownstreamFlowStatus,
        target: DownstreamFlowStatus,
        **columns: object,
    ) -> None:
        if not await repository.finish_downstream_flow(tx, flow.id, source, target, clock.now(), **columns):
            raise InvalidRequest(f"this downstream authorization is no longer {source}")
