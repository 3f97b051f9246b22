"""The refresh token grant (OAuth 2.1 §4.3): a new access token, and a new refresh token.

Every refresh rotates the refresh token (§4.3.1); the journey records each refresh, and a
rotated token presented again ends the journey with all its tokens, unless its client presents
it again within the grace window: seconds for a public client, longer for a confidential one
(docs/decisions/0018). Each such reuse within the window is a journey step of its own,
``refresh_token_grace_reuse``, so that bursts of them (or a thief racing the client) show.
"""

from mcp_authz.authorization_server.clients.entities import Client
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import InvalidGrant, InvalidScope, OAuthError
from mcp_authz.authorization_server.flow.discovery.issuers import OFFLINE_ACCESS, Issuer
from mcp_authz.authorization_server.flow.token.grants.authorization_code import single_resource
from mcp_authz.authorization_server.flow.token.grants.context import GrantContext
from mcp_authz.authorization_server.journeys.entities import Step
from mcp_authz.authorization_server.tokens.entities import RefreshTokenReused
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.shared.scopes import parse_scope
from mcp_authz.shared.token_response import TokenResponse


async def exchange(
    context: GrantContext, tx: Transaction, issuer: Issuer, client: Client, params: Params, jkt: str | None
) -> TokenResponse | OAuthError:
    scope_param = params.get("scope")
    try:
        asked = parse_scope(scope_param) if scope_param is not None else ()
    except ValueError as exc:
        raise InvalidScope(str(exc)) from None
    scope = tuple(name for name in asked if name != OFFLINE_ACCESS)  # SEP-2207: not a scope of the grant
    outcome = await context.tokens.refresh(
        tx,
        params.require("refresh_token"),
        issuer=issuer.url,
        client_id=client.client_id,
        public=client.is_public,
        scope=scope or None,
        resource=single_resource(params),
        jkt=jkt,
    )
    if isinstance(outcome, RefreshTokenReused):
        await context.journeys.revoke(
            tx, outcome.journey_id, Step.REFRESH_TOKEN_REUSED, "a rotated refresh token was presented again"
        )
        return InvalidGrant("the refresh token was already used; this grant is now revoked")
    if outcome.repeated_after is not None:
        # The window that applied: a public client's DPoP-bound token has the confidential one (decision 0048).
        kind = "confidential" if not client.is_public else "DPoP-bound public" if outcome.bound else "public"
        detail = (
            f"a rotated refresh token again, {outcome.repeated_after.total_seconds():.1f} s after its rotation,"
            f" within the grace window of a {kind} client: the same pair again"
        )
        await context.journeys.record(tx, outcome.journey_id, Step.REFRESH_TOKEN_GRACE_REUSE, detail)
    else:
        await context.journeys.record(tx, outcome.journey_id, Step.TOKEN_REFRESHED, "refresh token rotated")
    await context.consents.used(tx, await context.journeys.get(tx, outcome.journey_id))  # "last used" (issue 17)
    return outcome.response
