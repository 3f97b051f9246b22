"""The grant a journey yields: its code redeemed, a machine client's tokens, and the grant withdrawn.

What the token, revocation and introspection steps and the connected-apps page ask of journeys:
redeeming a code (OAuth 2.1 §4.1.3), a machine client's client_credentials journey (§4.2,
docs/decisions/0018), ending a grant (RFC 7009), and which journeys hold one.
"""

from dataclasses import dataclass

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import InvalidGrant, InvalidTarget
from mcp_authz.authorization_server.journeys import repository, states
from mcp_authz.authorization_server.journeys.entities import Journey, JourneyStatus, Step
from mcp_authz.authorization_server.secrets_at_rest import digest
from mcp_authz.shared.pkce import verify_s256
from mcp_authz.shared.resource import same_resource


@dataclass(frozen=True)
class CodeReplayed:
    """A code was presented again after it was redeemed; its journey is now revoked (OAuth 2.1 §4.1.3)."""

    journey_id: str


async def redeem_code(
    tx: Transaction,
    code: str,
    *,
    client_id: str,
    code_verifier: str | None,
    redirect_uri: str | None,
    resource: str | None,
    dpop_jkt: str | None = None,
) -> Journey | CodeReplayed:
    """Check a code against everything it is bound to and mark it used (OAuth 2.1 §4.1.3).

    A code already exchanged for tokens is a replay: its journey is revoked and the caller
    must revoke the tokens issued from it (OAuth 2.1 §4.1.3, RFC 9700 §4.5.3.1).

    Every check comes before the code is marked used, and a failed one raises, which rolls the
    transaction back: a request with the wrong ``resource`` (compared in canonical form, so an
    upper-case host or a bare origin's trailing slash is the same resource) does not burn the code,
    and the client may send it again with the right one (RFC 8707 §2.2; issue 15, real clients).
    A code asked for with ``dpop_jkt`` is only for a request whose DPoP proof is of that key
    (``dpop_jkt`` here, RFC 9449 §10).
    """
    journey = await repository.by_code(tx, digest(code))
    if journey is None or journey.request is None or journey.mcp_flow.client_id != client_id:
        raise InvalidGrant("the authorization code is not valid for this client")
    if journey.status is JourneyStatus.ACTIVE:
        # Only a replay that would otherwise succeed revokes: whoever merely saw the code
        # (browser history, a log) must not be able to end the user's grant (AS-34).
        if code_verifier is None or not verify_s256(code_verifier, journey.request.code_challenge):
            raise InvalidGrant("the authorization code was already used")
        await states.move(tx, journey, JourneyStatus.REVOKED, failure_reason="authorization code replayed")
        await states.stamp(tx, journey.id, Step.CODE_REPLAYED, "the code was presented a second time")
        await states.stamp(tx, journey.id, Step.REVOKED, "tokens issued from the code are revoked")
        return CodeReplayed(journey.id)
    if journey.status is not JourneyStatus.CODE_ISSUED:
        raise InvalidGrant("the authorization code was already used")
    if resource is not None and not same_resource(resource, journey.request.resource):
        raise InvalidTarget("resource differs from the one the code was issued for (RFC 8707 §2.2)")
    if journey.code_expires_at is None or journey.code_expires_at < clock.now():
        raise InvalidGrant("the authorization code has expired")
    if redirect_uri is not None and redirect_uri != journey.request.redirect_uri:
        raise InvalidGrant("redirect_uri differs from the one in the authorization request")
    if code_verifier is None:
        raise InvalidGrant("code_verifier is required (PKCE, RFC 7636 §4.5)")
    if not verify_s256(code_verifier, journey.request.code_challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge (RFC 7636 §4.6)")
    if journey.request.dpop_jkt is not None and journey.request.dpop_jkt != dpop_jkt:
        raise InvalidGrant("the authorization code is bound to another DPoP key (dpop_jkt, RFC 9449 §10)")
    active = await states.move(tx, journey, JourneyStatus.ACTIVE)
    await states.stamp(tx, journey.id, Step.CODE_REDEEMED, "tokens issued")
    return active


async def client_credentials_granted(
    tx: Transaction, *, issuer: str, client_id: str, mcp_server_id: str, detail: str
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
            journey_id = (await states.create(tx, issuer, JourneyStatus.ACTIVE, client_id, mcp_server_id)).id
    await states.stamp(tx, journey_id, Step.CLIENT_CREDENTIALS_GRANTED, detail)
    return journey_id


async def assertion_granted(
    tx: Transaction, step: Step, *, issuer: str, client_id: str, mcp_server_id: str, detail: str
) -> str:
    """A client got a token for an MCP server with an assertion (RFC 7523 §2.1): an IdP's ID-JAG (SEP-990,
    ``step`` ``identity_assertion_granted``) or a workload's JWT (SEP-1933, ``workload_identity_granted``);
    a new journey.

    Each assertion is its own grant: its issuer decided, this server only checked, and the client
    comes back with a new assertion rather than a refresh token (docs/decisions/0049, 0051).
    """
    journey_id = (await states.create(tx, issuer, JourneyStatus.ACTIVE, client_id, mcp_server_id)).id
    await states.stamp(tx, journey_id, step, detail)
    return journey_id


async def machine_journey(tx: Transaction, client_id: str, mcp_server_id: str) -> str | None:
    """The active journey of a machine client's client_credentials tokens for one MCP server, if any."""
    return await repository.machine_journey_id(tx, client_id, mcp_server_id)


async def revoke(tx: Transaction, journey_id: str, step: Step, reason: str) -> None:
    """End a journey because its grant was withdrawn, stamping why.

    An active journey is revoked; one whose code was issued but not yet redeemed fails, so the
    code no longer redeems (OAuth 2.1 §4.1.3: the code must be valid).
    """
    journey = await repository.get(tx, journey_id)
    assert journey is not None, journey_id
    if journey.status is JourneyStatus.ACTIVE:
        await states.move(tx, journey, JourneyStatus.REVOKED, failure_reason=reason)
    elif journey.status is JourneyStatus.CODE_ISSUED:
        await states.move(tx, journey, JourneyStatus.FAILED, failure_reason=reason)
    await states.stamp(tx, journey_id, step, reason)


async def is_active(tx: Transaction, journey_id: str) -> bool:
    """Whether the journey's grant stands: tokens were issued and nothing revoked them."""
    journey = await repository.get(tx, journey_id)
    return journey is not None and journey.status is JourneyStatus.ACTIVE


async def granted(tx: Transaction, user_id: str, client_id: str, mcp_server_id: str) -> list[str]:
    """The journeys in which ``user_id`` granted ``client_id`` access to one MCP server: tokens, or a code."""
    return await repository.granted_ids(tx, user_id, client_id, mcp_server_id)


async def granted_to_client(tx: Transaction, client_id: str) -> list[str]:
    """The journeys in which ``client_id`` holds tokens or a code, whoever granted them."""
    return await repository.granted_ids_of_client(tx, client_id)


async def granted_by_user(tx: Transaction, user_id: str) -> list[str]:
    """The journeys in which ``user_id`` granted any client access: tokens, or a code."""
    return await repository.granted_ids_of_user(tx, user_id)


async def granted_at_server(tx: Transaction, mcp_server_id: str) -> list[str]:
    """The journeys holding tokens or a code for one MCP server, whoever granted them to whom."""
    return await repository.granted_ids_at_server(tx, mcp_server_id)
