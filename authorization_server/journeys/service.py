"""The rules of a journey: what may happen at each step, and the stamp each step leaves.

:class:`JourneyService` is the one entry other modules call. It holds the journey's lifecycle
through the browser (registration, the authorization request, sign-in, consent, the code, a
failure or a refusal) and hands the other jobs to the package's modules:

- ``grants.py``: the code redeemed, a machine client's journey, a grant withdrawn, and which
  journeys hold a grant;
- ``downstream.py``: the Downstream Authorization Flows, their tokens sealed by ``sealing.py``;
- ``history.py``: journeys read back with their steps, for the operator;
- ``upkeep.py``: abandoned journeys expired, ended ones and those of deleted clients deleted.

``states.py`` holds what they share: a journey created, moved along ``TRANSITIONS``, stamped.
Every method takes the transaction of the request it serves, so a step and its effects on
other modules commit together or not at all.
"""

from datetime import datetime

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.encryption import Sealer
from mcp_authz.authorization_server.errors import InvalidRequest
from mcp_authz.authorization_server.journeys import grants, history, repository, states, upkeep
from mcp_authz.authorization_server.journeys.downstream import DownstreamFlows
from mcp_authz.authorization_server.journeys.entities import (
    AuthorizationRequest,
    DownstreamAuthorizationFlow,
    DownstreamCallback,
    DownstreamTokens,
    Event,
    Interaction,
    Journey,
    JourneyHistory,
    JourneySearch,
    JourneyStatus,
    SignedIn,
    Step,
)
from mcp_authz.authorization_server.journeys.grants import CodeReplayed
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.secrets_at_rest import digest, matches, new_secret
from mcp_authz.shared.scopes import format_scope

__all__ = ["CodeReplayed", "JourneyService"]

#: How many dropped scopes an ``authorization_requested`` step names; the rest are counted.
MAX_DROPPED_SHOWN = 10
#: How many sign-in trouble steps of one kind a journey records; later ones are not (issue 17): the password
#: form's failures and locks, and, apart, the sign-ins started and failed at identity providers (issue 16).
MAX_SIGN_IN_STEPS = 10
PASSWORD_SIGN_IN_STEPS = (Step.SIGN_IN_FAILED, Step.SIGN_IN_LOCKED)
UPSTREAM_SIGN_IN_STEPS = (Step.UPSTREAM_SIGN_IN_STARTED, Step.UPSTREAM_SIGN_IN_FAILED)
#: How much of a typed username a step shows; no username is longer (``accounts/service.py``).
MAX_USERNAME_SHOWN = 64


class JourneyService:
    def __init__(
        self, mcp_servers: McpServerService, *, code_ttl: int, interaction_ttl: int, sealer: Sealer | None = None
    ) -> None:
        self._code_ttl = code_ttl
        self._interaction_ttl = interaction_ttl
        #: The downstream flows, sealing their tokens and verifiers with ``sealer`` (``None`` without
        #: ``downstream_token_key``: nothing can be kept).
        self._downstream = DownstreamFlows(mcp_servers, interaction_ttl=interaction_ttl, sealer=sealer)

    # The lifecycle through the browser ---------------------------------------------------------

    async def start_at_registration(
        self, tx: Transaction, *, issuer: str, client_id: str, mcp_server_id: str, mcp_server_version: str
    ) -> Journey:
        """Seed 000: registration through the MCP endpoint creates a journey and its MCP flow."""
        journey = await states.create(
            tx, issuer, JourneyStatus.REGISTERED, client_id, mcp_server_id, mcp_server_version
        )
        await states.stamp(tx, journey.id, Step.REGISTERED, f"client registered for MCP server {mcp_server_id}")
        return journey

    async def request_authorization(
        self, tx: Transaction, request: AuthorizationRequest, browser_secret: str, *, signed_in: SignedIn | None = None
    ) -> tuple[Journey, str]:
        """Record an accepted authorization request; returns its new journey and a new interaction id.

        Every request starts a journey of its own: anyone who knows a ``client_id`` can send one,
        so a request proves nothing yet and must not take over the journey the client's
        registration started. That one joins the authorization once a signed-in user approved it
        (:meth:`approve`; docs/architecture.md). The interaction id names the sign-in and consent
        pages; only the browser that holds ``browser_secret`` may use it.

        ``signed_in``: the resource owner is authenticated already (a session, demo mode; OAuth 2.1
        §3.1). The journey then starts as :meth:`authenticated` would leave it, written by the same
        statements, and records both steps in one ``INSERT`` (issue 14).
        """
        interaction_id = new_secret()
        interaction = Interaction(
            request,
            interaction_hash=digest(interaction_id),
            interaction_expires_at=clock.later(self._interaction_ttl),
            browser_hash=digest(browser_secret),
        )
        detail = f"scope {format_scope(request.scope)!r} for {request.resource}"
        if request.dropped_scope:
            shown = request.dropped_scope[:MAX_DROPPED_SHOWN]
            more = len(request.dropped_scope) - len(shown)
            detail += f"; not offered by this MCP server, dropped: {format_scope(shown)!r}"
            detail += f" and {more} more" if more else ""
        steps = [states.happened(Step.AUTHORIZATION_REQUESTED, detail)]
        target = JourneyStatus.AUTHORIZATION_REQUESTED
        if signed_in is not None:
            steps.append(states.happened(Step.USER_AUTHENTICATED, signed_in.how))
            target = JourneyStatus.AUTHENTICATED
        journey = await states.create(
            tx,
            request.issuer,
            target,
            request.client_id,
            request.mcp_server_id,
            interaction=interaction,
            user_id=signed_in.user_id if signed_in else None,
        )
        await states.stamp_all(tx, journey.id, *steps)
        return journey, interaction_id

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
        authenticated = await states.move(tx, journey, JourneyStatus.AUTHENTICATED, user_id=user_id)
        await states.stamp(tx, journey.id, Step.USER_AUTHENTICATED, how)
        return authenticated

    async def sign_in_failed(self, tx: Transaction, journey_id: str, username: str, *, locked_for: int = 0) -> None:
        """A wrong username or password at the journey's sign-in page (OAuth 2.1 §3.1; issue 17).

        The journey is the operator's record: it shows the username as typed (quoted, cut to the
        longest a username can be), never the password, and does not tell a wrong password from an
        unknown username, as the page does not either. ``locked_for``: seconds of the lock this
        failure started for the username at the browser's address (``accounts/lockout.py``), stamped
        as ``sign_in_locked`` after it. At most :data:`MAX_SIGN_IN_STEPS` such steps per journey.
        """
        detail = f"wrong username or password for {_shown(username)}"
        await self._stamp_sign_in(tx, journey_id, Step.SIGN_IN_FAILED, detail)
        if locked_for > 0:
            detail = f"{_shown(username)} locked at this address for {_minutes(locked_for)} after repeated failures"
            await self._stamp_sign_in(tx, journey_id, Step.SIGN_IN_LOCKED, detail)

    async def sign_in_locked(self, tx: Transaction, journey_id: str, username: str, wait: int) -> None:
        """A sign-in refused, password unchecked: the username is locked at this address (RFC 9700 §4.16; issue 17)."""
        detail = f"refused: {_shown(username)} is locked at this address for {_minutes(wait)} more"
        await self._stamp_sign_in(tx, journey_id, Step.SIGN_IN_LOCKED, detail)

    async def upstream_sign_in(self, tx: Transaction, journey_id: str, step: Step, detail: str) -> None:
        """A sign-in at an identity provider started or failed (issue 16). A person may press "Continue with"
        again and again: at most :data:`MAX_SIGN_IN_STEPS` such steps per journey."""
        later = "later sign-ins at identity providers of this authorization are not recorded"
        await self._stamp_bounded(tx, journey_id, step, detail, UPSTREAM_SIGN_IN_STEPS, later)

    async def _stamp_sign_in(self, tx: Transaction, journey_id: str, step: Step, detail: str) -> None:
        later = "later failed sign-ins of this authorization are not recorded"
        await self._stamp_bounded(tx, journey_id, step, detail, PASSWORD_SIGN_IN_STEPS, later)

    async def _stamp_bounded(
        self, tx: Transaction, journey_id: str, step: Step, detail: str, kind: tuple[Step, ...], later: str
    ) -> None:
        """Stamp ``step``, unless the journey already holds :data:`MAX_SIGN_IN_STEPS` steps of its ``kind``."""
        recorded = await repository.count_events(tx, journey_id, kind)
        if recorded >= MAX_SIGN_IN_STEPS:
            return
        if recorded == MAX_SIGN_IN_STEPS - 1:
            detail += f"; {later}"
        await states.stamp(tx, journey_id, step, detail)

    async def token_introspected(self, tx: Transaction, journey_id: str, *, jti: str, mcp_server_id: str) -> None:
        """The MCP server checked one of the journey's access tokens by introspection (RFC 7662 §2; issue 17).

        Only the first check of each token (by its ``jti``, RFC 9068 §2.2) is a step: the MCP
        server may ask on every request, and the journey grows by one step per token at most.
        """
        if await repository.has_token_event(tx, journey_id, jti):
            return
        detail = f"MCP server {mcp_server_id} checked access token {jti} for the first time: active"
        await repository.add_token_event(tx, journey_id, Step.TOKEN_INTROSPECTED, clock.now(), detail, jti)

    async def approve(self, tx: Transaction, journey: Journey, how: str) -> str:
        """Consent given: issue the authorization code (OAuth 2.1 §4.1.2). Returns the code."""
        consented = states.happened(Step.CONSENT_GIVEN, how)
        return await self._issue_code(tx, journey, await self._adopt_registration(tx, journey), consented)

    async def approve_before_downstream(self, tx: Transaction, journey: Journey, how: str) -> Journey:
        """Consent given, but the MCP server's downstream providers must authorize first (issue 4)."""
        started = await self._adopt_registration(tx, journey)
        moved = await states.move(tx, journey, JourneyStatus.DOWNSTREAM, interaction_hash=None, **started)
        await states.stamp(tx, journey.id, Step.CONSENT_GIVEN, how)
        return moved

    async def issue_code(self, tx: Transaction, journey: Journey) -> str:
        """Issue the authorization code (OAuth 2.1 §4.1.2) once consent, and every downstream flow, are done.

        The code is single-use, short-lived, and bound through the journey to the client, the
        redirect URI, the PKCE challenge, the resource, the scope and the user.
        """
        return await self._issue_code(tx, journey, {})

    async def _issue_code(
        self, tx: Transaction, journey: Journey, started: dict[str, datetime], *earlier: Event
    ) -> str:
        """:meth:`issue_code`, with the journey's adopted start (``started``) set by the same ``UPDATE``, and the
        steps of this unit not yet recorded (``earlier``) written with ``code_issued`` in one ``INSERT`` (issue 14)."""
        code = new_secret()
        await states.move(
            tx,
            journey,
            JourneyStatus.CODE_ISSUED,
            code_hash=digest(code),
            code_expires_at=clock.later(self._code_ttl),
            interaction_hash=None,
            **started,
        )
        await states.stamp_all(
            tx, journey.id, *earlier, states.happened(Step.CODE_ISSUED, f"valid for {self._code_ttl} s")
        )
        return code

    async def get(self, tx: Transaction, journey_id: str) -> Journey:
        """The journey ``journey_id``; ``not_found`` if there is none."""
        return await states.get(tx, journey_id)

    async def fail(self, tx: Transaction, journey: Journey, reason: str) -> None:
        """End a journey that cannot go on, stamping why."""
        await states.move(tx, journey, JourneyStatus.FAILED, failure_reason=reason, interaction_hash=None)
        await states.stamp(tx, journey.id, Step.FAILED, reason)

    async def deny(self, tx: Transaction, journey: Journey) -> None:
        """The resource owner refused: the client gets ``access_denied`` (OAuth 2.1 §4.1.2.1)."""
        await states.move(tx, journey, JourneyStatus.DENIED, failure_reason="access_denied", interaction_hash=None)
        await states.stamp(tx, journey.id, Step.CONSENT_DENIED, "the user denied the request")

    async def record(self, tx: Transaction, journey_id: str, step: Step, detail: str | None = None) -> None:
        """Stamp a step that does not change the journey's state (a refresh, say)."""
        await states.stamp(tx, journey_id, step, detail)

    async def _adopt_registration(self, tx: Transaction, journey: Journey) -> dict[str, datetime]:
        """A signed-in user approved this journey: the journey its client's MCP registration started joins it.

        Only now, not at /authorize: a stranger who knows the ``client_id`` can send an
        authorization request, but only an approval by a signed-in user continues the
        registration's journey (issue 11, item 4). Its ``registered`` step moves to this journey,
        which then starts when the registration did: returned as the ``created_at`` for the caller's
        move of the journey to set (the same ``UPDATE``, issue 14); empty when there was none.
        """
        flow = journey.mcp_flow
        registered = await repository.registered_journey(tx, flow.client_id, flow.mcp_server_id)
        if registered is None:
            return {}
        await repository.adopt_registration(tx, registered, journey.id)
        return {"created_at": registered.created_at}

    # The grant: grants.py ----------------------------------------------------------------------

    async def redeem_code(
        self,
        tx: Transaction,
        code: str,
        *,
        client_id: str,
        code_verifier: str | None,
        redirect_uri: str | None,
        resource: str | None,
        dpop_jkt: str | None = None,
    ) -> Journey | CodeReplayed:
        """Check a code against everything it is bound to and mark it used (OAuth 2.1 §4.1.3; ``grants.py``)."""
        return await grants.redeem_code(
            tx,
            code,
            client_id=client_id,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
            resource=resource,
            dpop_jkt=dpop_jkt,
        )

    async def client_credentials_granted(
        self, tx: Transaction, *, issuer: str, client_id: str, mcp_server_id: str, detail: str
    ) -> str:
        """A machine client got a token for an MCP server (OAuth 2.1 §4.2); returns the journey, its grant."""
        return await grants.client_credentials_granted(
            tx, issuer=issuer, client_id=client_id, mcp_server_id=mcp_server_id, detail=detail
        )

    async def assertion_granted(
        self, tx: Transaction, step: Step, *, issuer: str, client_id: str, mcp_server_id: str, detail: str
    ) -> str:
        """A client got a token with an assertion (RFC 7523 §2.1): ``step`` ``identity_assertion_granted`` for an
        IdP's ID-JAG (SEP-990), ``workload_identity_granted`` for a workload's JWT (SEP-1933); the new journey."""
        return await grants.assertion_granted(
            tx, step, issuer=issuer, client_id=client_id, mcp_server_id=mcp_server_id, detail=detail
        )

    async def machine_journey(self, tx: Transaction, client_id: str, mcp_server_id: str) -> str | None:
        """The active journey of a machine client's client_credentials tokens for one MCP server, if any."""
        return await grants.machine_journey(tx, client_id, mcp_server_id)

    async def revoke(self, tx: Transaction, journey_id: str, step: Step, reason: str) -> None:
        """End a journey because its grant was withdrawn, stamping why (RFC 7009; ``grants.py``)."""
        await grants.revoke(tx, journey_id, step, reason)

    async def is_active(self, tx: Transaction, journey_id: str) -> bool:
        """Whether the journey's grant stands: tokens were issued and nothing revoked them."""
        return await grants.is_active(tx, journey_id)

    async def granted(self, tx: Transaction, user_id: str, client_id: str, mcp_server_id: str) -> list[str]:
        """The journeys in which ``user_id`` granted ``client_id`` access to one MCP server: tokens, or a code."""
        return await grants.granted(tx, user_id, client_id, mcp_server_id)

    async def granted_to_client(self, tx: Transaction, client_id: str) -> list[str]:
        """The journeys in which ``client_id`` holds tokens or a code, whoever granted them."""
        return await grants.granted_to_client(tx, client_id)

    async def granted_by_user(self, tx: Transaction, user_id: str) -> list[str]:
        """The journeys in which ``user_id`` granted any client access: tokens, or a code (``users remove``)."""
        return await grants.granted_by_user(tx, user_id)

    async def granted_at_server(self, tx: Transaction, mcp_server_id: str) -> list[str]:
        """The journeys holding tokens or a code for one MCP server (``mcp-servers remove --force``)."""
        return await grants.granted_at_server(tx, mcp_server_id)

    async def count_at_server(self, tx: Transaction, mcp_server_id: str) -> int:
        """How many journeys, whatever their status, are for one MCP server."""
        return await repository.count_at_server(tx, mcp_server_id)

    # Downstream Authorization Flows: downstream.py ---------------------------------------------

    @property
    def can_seal(self) -> bool:
        """Whether downstream tokens can be kept: ``downstream_token_key`` is set."""
        return self._downstream.can_seal

    async def start_downstream_flow(
        self, tx: Transaction, journey_id: str, connection_id: str, *, state: str, code_verifier: str, redirect_uri: str
    ) -> DownstreamAuthorizationFlow:
        """Seed 000: a Downstream Authorization Flow links the journey and a connection of its own MCP server."""
        return await self._downstream.start(
            tx, journey_id, connection_id, state=state, code_verifier=code_verifier, redirect_uri=redirect_uri
        )

    async def take_downstream_callback(
        self, tx: Transaction, state: str, browser_secret: str | None
    ) -> DownstreamCallback:
        """The started flow whose ``state`` came back to the callback; the state is used up (single use)."""
        return await self._downstream.take_callback(tx, state, browser_secret)

    async def complete_downstream_flow(
        self, tx: Transaction, flow: DownstreamAuthorizationFlow, tokens: DownstreamTokens, provider: str
    ) -> None:
        """The provider's code was exchanged: keep its tokens, sealed, and stamp the journey."""
        await self._downstream.complete(tx, flow, tokens, provider)

    async def fail_downstream_flow(
        self, tx: Transaction, flow: DownstreamAuthorizationFlow, reason: str, *, denied: bool
    ) -> None:
        """The downstream flow ended without tokens; so does its journey: denied, or failed (issue 4)."""
        await self._downstream.fail(tx, flow, reason, denied=denied)

    async def downstream_tokens(
        self, tx: Transaction, journey_id: str, connection_id: str
    ) -> tuple[DownstreamAuthorizationFlow, DownstreamTokens] | None:
        """The user's tokens at a connection's provider, from the journey's completed flow; else ``None``."""
        return await self._downstream.tokens(tx, journey_id, connection_id)

    async def replace_downstream_tokens(
        self, tx: Transaction, flow: DownstreamAuthorizationFlow, tokens: DownstreamTokens, step: Step, detail: str
    ) -> None:
        """Keep the provider's new tokens (a refresh rotates them) and stamp why."""
        await self._downstream.replace_tokens(tx, flow, tokens, step, detail)

    # Reading back: history.py ------------------------------------------------------------------

    async def recent(self, tx: Transaction, limit: int = 20) -> list[JourneyHistory]:
        """The latest journeys, newest first, each with its steps in order and its downstream flows."""
        return await history.recent(tx, limit)

    async def search(self, tx: Transaction, wanted: JourneySearch) -> list[JourneyHistory]:
        """The journeys the operator's filters name, newest first, a page at a time (issue 17)."""
        return await history.search(tx, wanted)

    async def history(self, tx: Transaction, journey_id: str) -> JourneyHistory | None:
        """One journey with everything it recorded; ``None`` if there is none."""
        return await history.history(tx, journey_id)

    # Upkeep: upkeep.py -------------------------------------------------------------------------

    async def expire_abandoned(self, tx: Transaction, limit: int) -> int:
        """End as ``expired`` at most ``limit`` journeys left at sign-in, consent or a downstream provider past
        their deadline; how many."""
        return await upkeep.expire_abandoned(tx, self._interaction_ttl, limit)

    async def delete_ended(self, tx: Transaction, before: datetime, limit: int) -> int:
        """Delete at most ``limit`` journeys that ended without a grant (failed, denied, expired) before ``before``."""
        return await upkeep.delete_ended(tx, before, limit)

    async def delete_for_clients(self, tx: Transaction, client_ids: list[str]) -> int:
        """Forget the journeys of clients that are being deleted; returns how many there were."""
        return await upkeep.delete_for_clients(tx, client_ids)


def _shown(username: str) -> str:
    """A typed username as a step shows it: quoted, control characters escaped (``repr``), cut to length."""
    return repr(username[:MAX_USERNAME_SHOWN])


def _minutes(seconds: int) -> str:
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' * (minutes != 1)}"
