"""A journey's timeline laid out as a sequence diagram, for the admin page to draw as SVG (issue 4).

Six lifelines (client, user, authorization server, MCP server, downstream provider, identity provider) and one
arrow per recorded step, top to bottom in the order the steps were recorded. The MCP server's
lifeline carries its side: its first introspection of each access token (RFC 7662, issue 17)
and its token exchanges (RFC 8693); the identity provider's, a sign-in through it (issue 16).
Only positions are computed here; ``templates/admin_journey.html`` turns them into SVG on the server.
"""

from dataclasses import dataclass
from enum import IntEnum

from mcp_authz.authorization_server.admin.timelines import Timeline
from mcp_authz.authorization_server.journeys.entities import Step


class Party(IntEnum):
    """The lifelines, left to right."""

    CLIENT = 0
    USER = 1
    AUTHORIZATION_SERVER = 2
    MCP_SERVER = 3
    DOWNSTREAM_PROVIDER = 4
    IDENTITY_PROVIDER = 5


NAMES = {
    Party.CLIENT: "Client",
    Party.USER: "User",
    Party.AUTHORIZATION_SERVER: "Authorization server",
    Party.MCP_SERVER: "MCP server",
    Party.DOWNSTREAM_PROVIDER: "Downstream provider",
    Party.IDENTITY_PROVIDER: "Identity provider",
}

#: Who each recorded step goes from and to, and what the arrow says.
ARROWS: dict[Step, tuple[Party, Party, str]] = {
    Step.REGISTERED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "registers (RFC 7591)"),
    Step.AUTHORIZATION_REQUESTED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "authorization request"),
    Step.USER_AUTHENTICATED: (Party.USER, Party.AUTHORIZATION_SERVER, "signs in"),
    Step.SIGN_IN_FAILED: (Party.USER, Party.AUTHORIZATION_SERVER, "sign-in failed"),
    Step.SIGN_IN_LOCKED: (Party.AUTHORIZATION_SERVER, Party.USER, "username locked"),
    Step.UPSTREAM_SIGN_IN_STARTED: (Party.AUTHORIZATION_SERVER, Party.IDENTITY_PROVIDER, "sign-in (OpenID Connect)"),
    Step.UPSTREAM_SIGN_IN_COMPLETED: (Party.IDENTITY_PROVIDER, Party.AUTHORIZATION_SERVER, "code, then ID token"),
    Step.UPSTREAM_SIGN_IN_FAILED: (Party.IDENTITY_PROVIDER, Party.AUTHORIZATION_SERVER, "sign-in refused"),
    Step.CONSENT_GIVEN: (Party.USER, Party.AUTHORIZATION_SERVER, "allows"),
    Step.CONSENT_DENIED: (Party.USER, Party.AUTHORIZATION_SERVER, "denies"),
    Step.CODE_ISSUED: (Party.AUTHORIZATION_SERVER, Party.CLIENT, "authorization code"),
    Step.CODE_REDEEMED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "code + verifier for tokens"),
    Step.CLIENT_CREDENTIALS_GRANTED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "client credentials for a token"),
    Step.ID_JAG_ISSUED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "token exchange for an ID-JAG"),
    Step.IDENTITY_ASSERTION_GRANTED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "an IdP's ID-JAG for a token"),
    Step.WORKLOAD_IDENTITY_GRANTED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "a workload's JWT for a token"),
    Step.TOKEN_REFRESHED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "refresh"),
    Step.CODE_REPLAYED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "code again (replay)"),
    Step.REFRESH_TOKEN_REUSED: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "used refresh token again"),
    Step.REFRESH_TOKEN_GRACE_REUSE: (Party.CLIENT, Party.AUTHORIZATION_SERVER, "refresh again, within grace"),
    Step.TOKEN_INTROSPECTED: (Party.MCP_SERVER, Party.AUTHORIZATION_SERVER, "checks the token (RFC 7662)"),
    Step.REVOKED: (Party.AUTHORIZATION_SERVER, Party.CLIENT, "grant revoked"),
    Step.FAILED: (Party.AUTHORIZATION_SERVER, Party.CLIENT, "failed"),
    Step.EXPIRED: (Party.AUTHORIZATION_SERVER, Party.CLIENT, "expired (abandoned)"),
    Step.DOWNSTREAM_FLOW_STARTED: (Party.AUTHORIZATION_SERVER, Party.DOWNSTREAM_PROVIDER, "downstream authorization"),
    Step.DOWNSTREAM_FLOW_COMPLETED: (Party.DOWNSTREAM_PROVIDER, Party.AUTHORIZATION_SERVER, "code, then tokens"),
    Step.DOWNSTREAM_FLOW_FAILED: (Party.DOWNSTREAM_PROVIDER, Party.AUTHORIZATION_SERVER, "downstream failed"),
    Step.DOWNSTREAM_TOKEN_EXCHANGED: (Party.MCP_SERVER, Party.AUTHORIZATION_SERVER, "token exchange (RFC 8693)"),
    Step.DOWNSTREAM_TOKEN_REFRESHED: (Party.AUTHORIZATION_SERVER, Party.DOWNSTREAM_PROVIDER, "downstream refresh"),
}

COLUMN = 190  # between two lifelines
MARGIN = 100  # left of the first lifeline and right of the last
TOP = 50  # the lifelines' names sit above this
ROW = 44  # between two arrows


@dataclass(frozen=True)
class Lifeline:
    name: str
    x: int


@dataclass(frozen=True)
class Arrow:
    number: int
    step: Step
    label: str
    x1: int
    x2: int
    y: int
    #: Milliseconds since the step before, as the timeline says.
    took_ms: float


@dataclass(frozen=True)
class Diagram:
    width: int
    height: int
    lifelines: tuple[Lifeline, ...]
    arrows: tuple[Arrow, ...]


#: Steps on the identity provider's lifeline; without one of them the diagram leaves that lifeline out.
UPSTREAM = (Step.UPSTREAM_SIGN_IN_STARTED, Step.UPSTREAM_SIGN_IN_COMPLETED, Step.UPSTREAM_SIGN_IN_FAILED)


def layout(timeline: Timeline) -> Diagram:
    """The lifelines (the identity provider's only for a journey signed in through one) and an arrow per step."""
    upstream = any(step.step in UPSTREAM for step in timeline.steps)
    parties = [party for party in Party if upstream or party is not Party.IDENTITY_PROVIDER]
    lifelines = tuple(Lifeline(NAMES[party], _x(party)) for party in parties)
    arrows = []
    for number, step in enumerate(timeline.steps, start=1):
        source, target, label = ARROWS[step.step]
        y = TOP + ROW * number
        arrows.append(Arrow(number, step.step, label, _x(source), _x(target), y, step.took.total_seconds() * 1000))
    return Diagram(
        width=2 * MARGIN + COLUMN * (len(parties) - 1),
        height=TOP + ROW * (len(arrows) + 1),
        lifelines=lifelines,
        arrows=tuple(arrows),
    )


def _x(party: Party) -> int:
    return MARGIN + COLUMN * party
