"""Journeys, their steps and states, and the MCP and Downstream Authorization Flows that link them."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class JourneyStatus(StrEnum):
    """Where a journey is. :data:`TRANSITIONS` lists the moves allowed from each state."""

    REGISTERED = "registered"  # the client registered through the MCP endpoint
    AUTHORIZATION_REQUESTED = "authorization_requested"  # /authorize accepted the request
    AUTHENTICATED = "authenticated"  # the resource owner signed in
    DOWNSTREAM = "downstream_authorization"  # consent given; the downstream providers are asked in turn
    CODE_ISSUED = "code_issued"  # consent given, code sent to the client
    ACTIVE = "active"  # code redeemed: tokens issued (and refreshed)
    DENIED = "denied"  # the resource owner said no
    FAILED = "failed"  # ended without tokens, for the recorded reason
    REVOKED = "revoked"  # its tokens were revoked (replayed code, reused refresh token)
    EXPIRED = "expired"  # abandoned at sign-in, consent or a downstream provider: not finished within its lifetime


TRANSITIONS: dict[JourneyStatus, frozenset[JourneyStatus]] = {
    # A machine client's first client_credentials token continues its registration's journey.
    JourneyStatus.REGISTERED: frozenset({JourneyStatus.AUTHORIZATION_REQUESTED, JourneyStatus.ACTIVE}),
    JourneyStatus.AUTHORIZATION_REQUESTED: frozenset(
        {JourneyStatus.AUTHENTICATED, JourneyStatus.FAILED, JourneyStatus.EXPIRED}
    ),
    JourneyStatus.AUTHENTICATED: frozenset(
        {
            JourneyStatus.DOWNSTREAM,
            JourneyStatus.CODE_ISSUED,
            JourneyStatus.DENIED,
            JourneyStatus.FAILED,
            JourneyStatus.EXPIRED,
        }
    ),
    JourneyStatus.DOWNSTREAM: frozenset(
        {JourneyStatus.CODE_ISSUED, JourneyStatus.DENIED, JourneyStatus.FAILED, JourneyStatus.EXPIRED}
    ),
    JourneyStatus.CODE_ISSUED: frozenset({JourneyStatus.ACTIVE, JourneyStatus.FAILED}),
    JourneyStatus.ACTIVE: frozenset({JourneyStatus.REVOKED}),
    JourneyStatus.DENIED: frozenset(),
    JourneyStatus.FAILED: frozenset(),
    JourneyStatus.REVOKED: frozenset(),
    JourneyStatus.EXPIRED: frozenset(),
}

#: Where a journey waits for the user (sign-in or consent page, downstream provider); past its deadline it expires.
WAITING_FOR_USER = (JourneyStatus.AUTHORIZATION_REQUESTED, JourneyStatus.AUTHENTICATED, JourneyStatus.DOWNSTREAM)
#: Journeys that ended without a grant; deleted after ``journey_retention`` (issue 11, item 4).
ENDED_WITHOUT_GRANT = (JourneyStatus.FAILED, JourneyStatus.DENIED, JourneyStatus.EXPIRED)


class Step(StrEnum):
    """The steps a journey records, each with a timestamp."""

    REGISTERED = "registered"
    AUTHORIZATION_REQUESTED = "authorization_requested"
    USER_AUTHENTICATED = "user_authenticated"
    #: A wrong username or password at the sign-in page (the two are not told apart; the password never shown).
    SIGN_IN_FAILED = "sign_in_failed"
    #: The username is locked for the browser's address after repeated failures (``accounts/lockout.py``).
    SIGN_IN_LOCKED = "sign_in_locked"
    #: The person chose an identity provider; the browser went there (issue 16). The detail names it.
    UPSTREAM_SIGN_IN_STARTED = "upstream_sign_in_started"
    #: The provider's answer passed every check (OIDC Core §3.1.3.7); ``user_authenticated`` follows.
    UPSTREAM_SIGN_IN_COMPLETED = "upstream_sign_in_completed"
    #: The provider's answer was refused, or the person it named may not sign in here; the detail says why.
    UPSTREAM_SIGN_IN_FAILED = "upstream_sign_in_failed"
    CONSENT_GIVEN = "consent_given"
    CONSENT_DENIED = "consent_denied"
    CODE_ISSUED = "code_issued"
    CODE_REDEEMED = "code_redeemed"
    CLIENT_CREDENTIALS_GRANTED = "client_credentials_granted"
    #: A client presented an enterprise IdP's ID-JAG (RFC 7523 §2.1, SEP-990): the detail names the IdP and subject.
    IDENTITY_ASSERTION_GRANTED = "identity_assertion_granted"
    #: A workload presented its platform's JWT (RFC 7523 §2.1, SEP-1933): the detail names the issuer and subject.
    WORKLOAD_IDENTITY_GRANTED = "workload_identity_granted"
    #: This server as the IdP issued an ID-JAG for the user's grant (RFC 8693, SEP-990): the detail names its audience.
    ID_JAG_ISSUED = "id_jag_issued"
    TOKEN_REFRESHED = "token_refreshed"
    CODE_REPLAYED = "code_replayed"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"
    #: A just-rotated refresh token presented again within the grace window: the same pair answered.
    REFRESH_TOKEN_GRACE_REUSE = "refresh_token_grace_reuse"
    #: The MCP server checked an access token by introspection (RFC 7662), the first time for that ``jti``.
    TOKEN_INTROSPECTED = "token_introspected"
    REVOKED = "revoked"
    FAILED = "failed"
    EXPIRED = "expired"
    DOWNSTREAM_FLOW_STARTED = "downstream_flow_started"
    DOWNSTREAM_FLOW_COMPLETED = "downstream_flow_completed"
    DOWNSTREAM_FLOW_FAILED = "downstream_flow_failed"
    DOWNSTREAM_TOKEN_EXCHANGED = "downstream_token_exchanged"
    DOWNSTREAM_TOKEN_REFRESHED = "downstream_token_refreshed"


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request (OAuth 2.1 §4.1.1, RFC 7636 §4.3, RFC 8707 §2)."""

    issuer: str
    client_id: str
    mcp_server_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    resource: str
    code_challenge: str
    state: str | None
    #: The browser said this was a top-level navigation the user started (``Sec-Fetch-Site`` none,
    #: same-origin or same-site): only then may a remembered consent skip the consent page.
    user_started: bool = False
    #: Scopes the request asked for that the MCP server does not offer, left out of ``scope`` (RFC 6749
    #: §3.3; issue 15). Only on the request as received: the ``authorization_requested`` step records
    #: them, the journey's row does not.
    dropped_scope: tuple[str, ...] = ()
    #: ``dpop_jkt`` (RFC 9449 §10): the code goes only to a token request proving this DPoP key.
    dpop_jkt: str | None = None


@dataclass(frozen=True)
class McpAuthorizationFlow:
    """Links a journey, the MCP server it authorizes access to, and the client that asks."""

    id: str
    journey_id: str
    mcp_server_id: str
    client_id: str
    mcp_server_version: str | None
    created_at: datetime


class DownstreamFlowStatus(StrEnum):
    """Where a Downstream Authorization Flow is."""

    PENDING = "pending"  # linked to the journey before the flow itself existed (before migration 0008)
    STARTED = "started"  # the browser was sent to the provider's authorization endpoint
    COMPLETED = "completed"  # the provider's code was exchanged: its tokens are kept, sealed
    FAILED = "failed"  # denied at the provider, or its answer was unusable: see failure_reason


@dataclass(frozen=True)
class DownstreamAuthorizationFlow:
    """Links a journey and one MCP connection of the journey's MCP server (seed 000).

    Client and MCP server are those of the journey's MCP flow; they are not repeated here.
    """

    id: str
    journey_id: str
    mcp_connection_id: str
    status: DownstreamFlowStatus
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class StartedDownstreamFlow:
    """A started downstream flow as its callback needs it: what was kept when the browser left for the provider.

    Read by its ``state`` (OAuth 2.1 §4.1.2: the provider sends it back), which the reading uses up.
    """

    flow: DownstreamAuthorizationFlow
    #: The exact redirect URI sent to the provider, to be repeated at its token endpoint (OAuth 2.1 §4.1.3).
    redirect_uri: str
    #: The PKCE ``code_verifier`` (RFC 7636 §4.1), sealed for its row and column (``journeys/sealing.py``).
    code_verifier_sealed: bytes = field(repr=False)
    state_expires_at: datetime


@dataclass(frozen=True)
class CompletedDownstreamFlow:
    """A completed downstream flow with the provider's tokens as stored: sealed (``journeys/sealing.py``)."""

    flow: DownstreamAuthorizationFlow
    access_token_sealed: bytes = field(repr=False)
    refresh_token_sealed: bytes | None = field(repr=False)
    #: When the provider's access token expires; ``None`` when the provider did not say (RFC 6749 §5.1).
    token_expires_at: datetime | None
    scope: str | None


@dataclass(frozen=True)
class Event:
    step: Step
    at: datetime
    detail: str | None


@dataclass(frozen=True)
class Journey:
    """One end-to-end authorization and its MCP flow."""

    id: str
    issuer: str
    status: JourneyStatus
    mcp_flow: McpAuthorizationFlow
    #: Set once /authorize accepted a request; ``None`` while only registered.
    request: AuthorizationRequest | None
    user_id: str | None
    failure_reason: str | None
    interaction_expires_at: datetime | None
    code_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Interaction:
    """An accepted authorization request as its journey stores it: the request, and the interaction that continues it
    (its id's digest, deadline, and the digest of the browser's secret that alone may use it)."""

    request: AuthorizationRequest
    interaction_hash: str
    interaction_expires_at: datetime
    browser_hash: str


@dataclass(frozen=True)
class SignedIn:
    """The resource owner, authenticated (OAuth 2.1 §3.1), and how: the detail of the ``user_authenticated`` step."""

    user_id: str
    how: str


@dataclass(frozen=True)
class JourneyHistory:
    """A journey with everything it recorded: its steps in order and its downstream flows."""

    journey: Journey
    events: tuple[Event, ...]
    downstream_flows: tuple[DownstreamAuthorizationFlow, ...]


@dataclass(frozen=True)
class DownstreamTokens:
    """A user's tokens at a downstream provider, opened from their sealed columns (RFC 6749 §5.1)."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scope: str | None


@dataclass(frozen=True)
class DownstreamCallback:
    """A started downstream flow found by its ``state`` at the callback, which used that state up."""

    flow: DownstreamAuthorizationFlow
    journey: Journey
    redirect_uri: str
    code_verifier: str
    #: Whether the browser at the callback is the one that started the journey.
    same_browser: bool
    #: Whether the answer came after the state's deadline.
    expired: bool


@dataclass(frozen=True)
class JourneySearch:
    """Which journeys the operator looks for (the console's filters, issue 17); ``None`` leaves a filter out.

    Newest first, a page at a time: ``before`` is the (start, id) of the last journey of the page
    before, so that paging stays right while new journeys start.
    """

    client_id: str | None = None
    user_id: str | None = None
    mcp_server_id: str | None = None
    status: JourneyStatus | None = None
    #: Started at or after this moment.
    since: datetime | None = None
    #: Started before this moment.
    until: datetime | None = None
    before: tuple[datetime, str] | None = None
    limit: int = 50
