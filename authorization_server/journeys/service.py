"""The rules of a journey: what may happen at each step, and the stamp each step leaves.

Every method takes the transaction of the request it serves, so a step and its effects on
other modules commit together or not at all.
"""

from dataclasses import dataclass
from datetime import datetime

from authorization_server import clock
from authorization_server.db import Transaction
from authorization_server.encryption import Sealer, Undecryptable
from authorization_server.errors import InvalidGrant, InvalidRequest, InvalidTarget, NotFound, ServerError
from authorization_server.journeys import repository
from authorization_server.journeys.entities import (
    ENDED_WITHOUT_GRANT,
    TRANSITIONS,
    WAITING_FOR_USER,
    AuthorizationRequest,
    DownstreamAuthorizationFlow,
    DownstreamCallback,
    DownstreamFlowStatus,
    DownstreamTokens,
    Journey,
    JourneyHistory,
    JourneyStatus,
    McpAuthorizationFlow,
    Step,
)
from authorization_server.mcp_servers.service import McpServerService
from authorization_server.secrets_at_rest import digest, matches, new_id, new_secret
from shared.pkce import verify_s256
from shared.resource import same_resource
from shared.scopes import format_scope


@dataclass(frozen=True)
class CodeReplayed:
    """A code was presented again after it was redeemed; its journey is now revoked (OAuth 2.1 §4.1.3)."""

    journey_id: str


class JourneyService:
    def __init__(
        self, mcp_servers: McpServerService, *, code_ttl: int, interaction_ttl: int, sealer: Sealer | None = None
    ) -> None:
        self._mcp_servers = mcp_servers
        self._code_ttl = code_ttl
        self._interaction_ttl = interaction_ttl
        #: Seals downstream tokens and verifiers at rest; ``None`` without ``downstream_token_key``.
        self._sealer = sealer

    async def start_at_registration(
        self, tx: Transaction, *, issuer: str, client_id: str, mcp_server_id: str, mcp_server_version: str
    ) -> Journey:
        """Seed 000: registration through the MCP endpoint creates a journey and its MCP flow."""
        journey = await self._create(tx, issuer, JourneyStatus.REGISTERED, client_id, mcp_server_id, mcp_server_version)
        await self._stamp(tx, journey.id, Step.REGISTERED, f"client registered for MCP server {mcp_server_id}")
        return journey

    async def request_authorization(
        self, tx: Transaction, request: AuthorizationRequest, browser_secret: str
    ) -> tuple[Journey, str]:
        """Record an accepted authorization request; returns its new journey and a new interaction id.

        Every request starts a journey of its own: anyone who knows a ``client_id`` can send one,
        so a request proves nothing yet and must not take over the journey the client's
        registration started. That one joins the authorization once a signed-in user approved it
        (:meth:`approve`; docs/architecture.md). The interaction id names the sign-in and consent
        pages; only the browser that holds ``browser_secret`` may use it.
        """
        target = JourneyStatus.AUTHORIZATION_REQUESTED
        journey = await self._create(tx, request.issuer, target, request.client_id, request.mcp_server_id)
        interaction_id = new_secret()
        interaction_expires_at = clock.later(self._interaction_ttl)
        await repository.set_request(
            tx,
            journey.id,
            request,
            interaction_hash=digest(interaction_id),
            interaction_expires_at=interaction_expires_at,
            browser_hash=digest(browser_secret),
        )
        await self._stamp(
            tx,
            journey.id,
            Step.AUTHORIZATION_REQUESTED,
            f"scope {format_scope(request.scope)!r} for {request.resource}",
        )
        return repository.requested(journey, request, interaction_expires_at), interaction_id

    async def client_credentials_granted(
        self, tx: Transaction, *, issuer: str, client_id: str, mcp_server_id: str, detail: str
    ) -> str:
        """A machine client got a token for an MCP server (OAuth 2.1 §4.2); returns the journey, its grant.

        All of one client's client_credentials tokens for one MCP server are one journey, active
        until a revocation ends it (docs/decisions/0018): the journey its MCP registration started,
        or the active one of earlier tokens, or a new one.
        """
        now = clock.now()
        journey_id = await repository.machine_journey_id(tx, client_id, mcp_server_id)
        if journey_id is None:
            registered = await repository.registered_journey(tx, client_id, mcp_server_id)
            if registered is not None and await repository.move(
                tx, registered.id, JourneyStatus.REGISTERED, JourneyStatus.ACTIVE, now
            ):
                journey_id = registered.id
            else:
                journey_id = (await self._create(tx, issuer, JourneyStatus.ACTIVE, client_id, mcp_server_id)).id
        await self._stamp(tx, journey_id, Step.CLIENT_CREDENTIALS_GRANTED, detail)
        return journey_id

    async def machine_journey(self, tx: Transaction, client_id: str, mcp_server_id: str) -> str | None:
        """The active journey of a machine client's client_credentials tokens for one MCP server, if any."""
        return await repository.machine_journey_id(tx, client_id, mcp_server_id)

    async def pending(self, tx: Transaction, interaction_id: str, browser_secret: str | None) -> Journey:
        """The journey waiting for sign-in or consent under ``interaction_id``, in the browser that started it."""
        found = await repository.by_interaction(tx, digest(interaction_id))
        if found is None or found[0].status not in (
            JourneyStatus.AUTHORIZATION_REQUESTED,
            JourneyStatus.AUTHENTICATED,
        ):
            raise InvalidRequest("This sign-in link is not valid, or it was already used.")
        journey, browser_hash = found
        if not browser_secret or not matches(browser_secret, browser_hash):
            raise InvalidRequest("This sign-in was started in another browser. Start again from the application.")
        if journey.interaction_expires_at is None or journey.interaction_expires_at < clock.now():
            raise InvalidRequest("This sign-in took too long and has expired. Start again from the application.")
        return journey

    async def authenticated(self, tx: Transaction, journey: Journey, user_id: str, how: str) -> Journey:
        """The resource owner signed in (OAuth 2.1 §3.1: authenticate before anything else)."""
        authenticated = await self._move(tx, journey, JourneyStatus.AUTHENTICATED, user_id=user_id)
        await self._stamp(tx, journey.id, Step.USER_AUTHENTICATED, how)
        return authenticated

    @property
    def can_seal(self) -> bool:
        """Whether downstream tokens can be kept: ``downstream_token_key`` is set."""
        return self._sealer is not None

    async def approve(self, tx: Transaction, journey: Journey, how: str) -> str:
        """Consent given: issue the authorization code (OAuth 2.1 §4.1.2). Returns the code."""
        await self._adopt_registration(tx, journey)
        await self._stamp(tx, journey.id, Step.CONSENT_GIVEN, how)
        return await self.issue_code(tx, journey)

    async def approve_before_downstream(self, tx: Transaction, journey: Journey, how: str) -> Journey:
        """Consent given, but the MCP server's downstream providers must authorize first (issue 4)."""
        moved = await self._move(tx, journey, JourneyStatus.DOWNSTREAM, interaction_hash=None)
        await self._adopt_registration(tx, journey)
        await self._stamp(tx, journey.id, Step.CONSENT_GIVEN, how)
        return moved

    async def expire_abandoned(self, tx: Transaction) -> int:
        """End as ``expired`` the journeys left at the sign-in or consent page past their interaction deadline.

        An authorization abandoned at the sign-in page ends as expired after the interaction
        lifetime (issue 11, item 4); its interaction id no longer opens a page. Returns how many.
        """
        abandoned = await repository.waiting_past(tx, WAITING_FOR_USER, clock.now())
        for journey in abandoned:
            page = "sign-in" if journey.status is JourneyStatus.AUTHORIZATION_REQUESTED else "consent"
            reason = f"abandoned at the {page} page for longer than {self._interaction_ttl} s"
            await self._move(tx, journey, JourneyStatus.EXPIRED, failure_reason=reason, interaction_hash=None)
            await self._stamp(tx, journey.id, Step.EXPIRED, reason)
        return len(abandoned)

    async def delete_ended(self, tx: Transaction, before: datetime) -> int:
        """Delete the journeys that ended without a grant (failed, denied, expired) before ``before``; how many."""
        return await repository.delete_ended_before(tx, ENDED_WITHOUT_GRANT, before)

    async def issue_code(self, tx: Transaction, journey: Journey) -> str:
        """Issue the authorization code (OAuth 2.1 §4.1.2) once consent, and every downstream flow, are done.

        The code is single-use, short-lived, and bound through the journey to the client, the
        redirect URI, the PKCE challenge, the resource, the scope and the user.
        """
        code = new_secret()
        await self._move(
            tx,
            journey,
            JourneyStatus.CODE_ISSUED,
            code_hash=digest(code),
            code_expires_at=clock.later(self._code_ttl),
            interaction_hash=None,
        )
        await self._stamp(tx, journey.id, Step.CODE_ISSUED, f"valid for {self._code_ttl} s")
        return code

    async def get(self, tx: Transaction, journey_id: str) -> Journey:
        journey = await repository.get(tx, journey_id)
        if journey is None:
            raise NotFound(f"no journey {journey_id!r}")
        return journey

    async def fail(self, tx: Transaction, journey: Journey, reason: str) -> None:
        """End a journey that cannot go on, stamping why."""
        await self._move(tx, journey, JourneyStatus.FAILED, failure_reason=reason, interaction_hash=None)
        await self._stamp(tx, journey.id, Step.FAILED, reason)

    async def deny(self, tx: Transaction, journey: Journey) -> None:
        """The resource owner refused: the client gets ``access_denied`` (OAuth 2.1 §4.1.2.1)."""
        await self._move(tx, journey, JourneyStatus.DENIED, failure_reason="access_denied", interaction_hash=None)
        await self._stamp(tx, journey.id, Step.CONSENT_DENIED, "the user denied the request")

    async def redeem_code(
        self,
        tx: Transaction,
        code: str,
        *,
        client_id: str,
        code_verifier: str | None,
        redirect_uri: str | None,
        resource: str | None,
    ) -> Journey | CodeReplayed:
        """Check a code against everything it is bound to and mark it used (OAuth 2.1 §4.1.3).

        A code already exchanged for tokens is a replay: its journey is revoked and the caller
        must revoke the tokens issued from it (OAuth 2.1 §4.1.3, RFC 9700 §4.5.3.1).
        """
        journey = await repository.by_code(tx, digest(code))
        if journey is None or journey.request is None or journey.mcp_flow.client_id != client_id:
            raise InvalidGrant("the authorization code is not valid for this client")
        if journey.status is JourneyStatus.ACTIVE:
            # Only a replay that would otherwise succeed revokes: whoever merely saw the code
            # (browser history, a log) must not be able to end the user's grant (AS-34).
            if code_verifier is None or not verify_s256(code_verifier, journey.request.code_challenge):
                raise InvalidGrant("the authorization code was already used")
            await self._move(tx, journey, JourneyStatus.REVOKED, failure_reason="authorization code replayed")
            await self._stamp(tx, journey.id, Step.CODE_REPLAYED, "the code was presented a second time")
            await self._stamp(tx, journey.id, Step.REVOKED, "tokens issued from the code are revoked")
            return CodeReplayed(journey.id)
        if journey.status is not JourneyStatus.CODE_ISSUED:
            raise InvalidGrant("the authorization code was already used")
        if journey.code_expires_at is None or journey.code_expires_at < clock.now():
            raise InvalidGrant("the authorization code has expired")
        if redirect_uri is not None and redirect_uri != journey.request.redirect_uri:
            raise InvalidGrant("redirect_uri differs from the one in the authorization request")
        if code_verifier is None:
            raise InvalidGrant("code_verifier is required (PKCE, RFC 7636 §4.5)")
        if not verify_s256(code_verifier, journey.request.code_challenge):
            raise InvalidGrant("code_verifier does not match the code_challenge (RFC 7636 §4.6)")
        if resource is not None and not same_resource(resource, journey.request.resource):
            raise InvalidTarget("resource differs from the one the code was issued for (RFC 8707 §2.2)")
        active = await self._move(tx, journey, JourneyStatus.ACTIVE)
        await self._stamp(tx, journey.id, Step.CODE_REDEEMED, "tokens issued")
        return active

    async def record(self, tx: Transaction, journey_id: str, step: Step, detail: str | None = None) -> None:
        """Stamp a step that does not change the journey's state (a refresh, say)."""
        await self._stamp(tx, journey_id, step, detail)

    async def revoke(self, tx: Transaction, journey_id: str, step: Step, reason: str) -> None:
        """End a journey because its grant was withdrawn, stamping why.

        An active journey is revoked; one whose code was issued but not yet redeemed fails, so the
        code no longer redeems (OAuth 2.1 §4.1.3: the code must be valid).
        """
        journey = await self._get(tx, journey_id)
        if journey.status is JourneyStatus.ACTIVE:
            await self._move(tx, journey, JourneyStatus.REVOKED, failure_reason=reason)
        elif journey.status is JourneyStatus.CODE_ISSUED:
            await self._move(tx, journey, JourneyStatus.FAILED, failure_reason=reason)
        await self._stamp(tx, journey_id, step, reason)

    async def start_downstream_flow(
        self, tx: Transaction, journey_id: str, connection_id: str, *, state: str, code_verifier: str, redirect_uri: str
    ) -> DownstreamAuthorizationFlow:
        """Seed 000: a Downstream Authorization Flow links the journey and a connection of its own MCP server.

        A connection of another MCP server is refused here, with the reason; the schema's
        triggers (migrations/0001) refuse it too, as the last line of defence. The flow keeps the
        digest of its ``state`` and its PKCE ``code_verifier``, sealed, for the callback.
        """
        journey = await self.get(tx, journey_id)
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
            state_expires_at=clock.later(self._interaction_ttl),
            redirect_uri=redirect_uri,
            code_verifier_sealed=self._seal(code_verifier, flow.id, "code_verifier"),
        )
        detail = f"connection {connection.name} ({connection.id})"
        await self._stamp(tx, journey.id, Step.DOWNSTREAM_FLOW_STARTED, detail)
        return flow

    async def take_downstream_callback(
        self, tx: Transaction, state: str, browser_secret: str | None
    ) -> DownstreamCallback:
        """The started flow whose ``state`` came back to the callback; the state is used up (single use).

        Unknown or used states, and those that waited too long, are ``invalid_request``; the
        journey of a late one fails.
        """
        row = await repository.take_downstream_state(tx, digest(state))
        if row is None:
            raise InvalidRequest("This answer from the provider is not valid, or it was already used.")
        flow = repository.downstream_flow(row)
        journey = await self.get(tx, flow.journey_id)
        if flow.status is not DownstreamFlowStatus.STARTED or journey.status is not JourneyStatus.DOWNSTREAM:
            raise InvalidRequest("This answer from the provider is not valid, or it was already used.")
        browser_hash = await repository.browser_hash(tx, journey.id)
        return DownstreamCallback(
            flow=flow,
            journey=journey,
            redirect_uri=row["redirect_uri"],
            code_verifier=self._open(row["code_verifier_sealed"], flow.id, "code_verifier"),
            same_browser=bool(browser_secret and browser_hash and matches(browser_secret, browser_hash)),
            expired=clock.from_db(row["state_expires_at"]) < clock.now(),
        )

    async def complete_downstream_flow(
        self, tx: Transaction, flow: DownstreamAuthorizationFlow, tokens: DownstreamTokens, provider: str
    ) -> None:
        """The provider's code was exchanged: keep its tokens, sealed, and stamp the journey."""
        now = clock.now()
        await self._set_downstream(
            tx,
            flow,
            DownstreamFlowStatus.STARTED,
            DownstreamFlowStatus.COMPLETED,
            completed_at=now,
            code_verifier_sealed=None,
            **self._sealed_tokens(flow.id, tokens),
        )
        await self._stamp(tx, flow.journey_id, Step.DOWNSTREAM_FLOW_COMPLETED, f"{provider}: tokens kept, sealed")

    async def fail_downstream_flow(
        self, tx: Transaction, flow: DownstreamAuthorizationFlow, reason: str, *, denied: bool
    ) -> None:
        """The downstream flow ended without tokens; so does its journey: denied, or failed (issue 4)."""
        await self._set_downstream(
            tx,
            flow,
            DownstreamFlowStatus.STARTED,
            DownstreamFlowStatus.FAILED,
            failure_reason=reason,
            code_verifier_sealed=None,
        )
        await self._stamp(tx, flow.journey_id, Step.DOWNSTREAM_FLOW_FAILED, reason)
        journey = await self.get(tx, flow.journey_id)
        target = JourneyStatus.DENIED if denied else JourneyStatus.FAILED
        await self._move(tx, journey, target, failure_reason="access_denied" if denied else reason)

    async def downstream_tokens(
        self, tx: Transaction, journey_id: str, connection_id: str
    ) -> tuple[DownstreamAuthorizationFlow, DownstreamTokens] | None:
        """The user's tokens at a connection's provider, from the journey's completed flow; else ``None``."""
        row = await repository.completed_downstream_flow(tx, journey_id, connection_id)
        if row is None:
            return None
        flow = repository.downstream_flow(row)
        refresh_token = row["refresh_token_sealed"]
        tokens = DownstreamTokens(
            access_token=self._open(row["access_token_sealed"], flow.id, "access_token"),
            refresh_token=self._open(refresh_token, flow.id, "refresh_token") if refresh_token else None,
            expires_at=clock.from_db(row["token_expires_at"]) if row["token_expires_at"] else None,
            scope=row["scope"],
        )
        return flow, tokens

    async def replace_downstream_tokens(
        self, tx: Transaction, flow: DownstreamAuthorizationFlow, tokens: DownstreamTokens, step: Step, detail: str
    ) -> None:
        """Keep the provider's new tokens (a refresh rotates them) and stamp why."""
        await self._set_downstream(
            tx,
            flow,
            DownstreamFlowStatus.COMPLETED,
            DownstreamFlowStatus.COMPLETED,
            **self._sealed_tokens(flow.id, tokens),
        )
        await self._stamp(tx, flow.journey_id, step, detail)

    async def is_active(self, tx: Transaction, journey_id: str) -> bool:
        """Whether the journey's grant stands: tokens were issued and nothing revoked them."""
        journey = await repository.get(tx, journey_id)
        return journey is not None and journey.status is JourneyStatus.ACTIVE

    async def granted(self, tx: Transaction, user_id: str, client_id: str, mcp_server_id: str) -> list[str]:
        """The journeys in which ``user_id`` granted ``client_id`` access to one MCP server: tokens, or a code."""
        return await repository.granted_ids(tx, user_id, client_id, mcp_server_id)

    async def granted_to_client(self, tx: Transaction, client_id: str) -> list[str]:
        """The journeys in which ``client_id`` holds tokens or a code, whoever granted them."""
        return await repository.granted_ids_of_client(tx, client_id)

    async def delete_for_clients(self, tx: Transaction, client_ids: list[str]) -> int:
        """Forget the journeys of clients that are being deleted; returns how many there were."""
        return await repository.delete_for_clients(tx, client_ids)

    async def recent(self, tx: Transaction, limit: int = 20) -> list[JourneyHistory]:
        """The latest journeys, newest first, each with its steps in order and its downstream flows."""
        return [await self._history(tx, journey) for journey in await repository.recent(tx, limit)]

    async def history(self, tx: Transaction, journey_id: str) -> JourneyHistory | None:
        journey = await repository.get(tx, journey_id)
        return await self._history(tx, journey) if journey else None

    async def _history(self, tx: Transaction, journey: Journey) -> JourneyHistory:
        return JourneyHistory(
            journey,
            tuple(await repository.events(tx, journey.id)),
            tuple(await repository.downstream_flows(tx, journey.id)),
        )

    async def _create(
        self,
        tx: Transaction,
        issuer: str,
        status: JourneyStatus,
        client_id: str,
        mcp_server_id: str,
        mcp_server_version: str | None = None,
    ) -> Journey:
        journey_id = new_id("jrn")
        flow = McpAuthorizationFlow(
            id=new_id("mfl"),
            journey_id=journey_id,
            mcp_server_id=mcp_server_id,
            client_id=client_id,
            mcp_server_version=mcp_server_version,
            created_at=clock.now(),
        )
        await repository.add(tx, journey_id, issuer, status, flow)
        return repository.created(journey_id, issuer, status, flow)

    def _sealed_tokens(self, flow_id: str, tokens: DownstreamTokens) -> dict[str, object]:
        refresh_token = tokens.refresh_token
        return {
            "access_token_sealed": self._seal(tokens.access_token, flow_id, "access_token"),
            "refresh_token_sealed": self._seal(refresh_token, flow_id, "refresh_token") if refresh_token else None,
            "token_expires_at": tokens.expires_at,
            "scope": tokens.scope,
        }

    def _seal(self, value: str, flow_id: str, column: str) -> bytes:
        """Seal a value of one flow's column: its associated data binds it to that row and column."""
        return self._cipher().seal(value, f"downstream_authorization_flows/{flow_id}/{column}")

    def _open(self, sealed: bytes, flow_id: str, column: str) -> str:
        try:
            return self._cipher().open(sealed, f"downstream_authorization_flows/{flow_id}/{column}")
        except Undecryptable:
            raise ServerError(
                "a downstream token cannot be decrypted", detail=f"flow {flow_id}: downstream_token_key changed?"
            ) from None

    def _cipher(self) -> Sealer:
        if self._sealer is None:
            raise ServerError("downstream tokens cannot be kept", detail="downstream_token_key is not set")
        return self._sealer

    async def _set_downstream(
        self,
        tx: Transaction,
        flow: DownstreamAuthorizationFlow,
        source: DownstreamFlowStatus,
        target: DownstreamFlowStatus,
        **columns: object,
    ) -> None:
        if not await repository.finish_downstream_flow(tx, flow.id, source, target, clock.now(), **columns):
            raise InvalidRequest(f"this downstream authorization is no longer {source}")

    async def _move(self, tx: Transaction, journey: Journey, target: JourneyStatus, **columns: object) -> Journey:
        """Move ``journey`` to ``target``; returns it as it now is, without reading it back."""
        now = clock.now()
        if target not in TRANSITIONS[journey.status] or not await repository.move(
            tx, journey.id, journey.status, target, now, **columns
        ):
            raise InvalidRequest(f"this authorization can no longer move from {journey.status} to {target}")
        return repository.moved(journey, target, now, columns)

    async def _adopt_registration(self, tx: Transaction, journey: Journey) -> None:
        """A signed-in user approved this journey: the journey its client's MCP registration started joins it.

        Only now, not at /authorize: a stranger who knows the ``client_id`` can send an
        authorization request, but only an approval by a signed-in user continues the
        registration's journey (issue 11, item 4). Its ``registered`` step moves to this journey,
        which then starts when the registration did.
        """
        flow = journey.mcp_flow
        registered = await repository.registered_journey(tx, flow.client_id, flow.mcp_server_id)
        if registered is not None:
            await repository.adopt_registration(tx, registered, journey.id)

    async def _stamp(self, tx: Transaction, journey_id: str, step: Step, detail: str | None) -> None:
        await repository.add_event(tx, journey_id, step, clock.now(), detail)

    async def _get(self, tx: Transaction, journey_id: str) -> Journey:
        journey = await repository.get(tx, journey_id)
        assert journey is not None, journey_id
        return journey
