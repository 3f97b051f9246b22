"""The authorization code grant, second half: the code for tokens (OAuth 2.1 §4.1.3)::

     +----------+                               +---------------+
     |          |>--(1) code, code_verifier,--->|               |
     |  Client  |       client_id, resource     | Authorization |
     |          |                               |    Server     |
     |          |<--(2) access token (JWT) -----<|               |
     +----------+       [refresh token]         +---------------+

The code is checked against everything it was bound to at /authorize (client, redirect URI,
PKCE challenge, resource), used once, and never again: presenting it a second time revokes
the tokens it yielded (§4.1.3, RFC 9700 §4.5.3.1).
"""

from mcp_authz.authorization_server.clients.entities import Client
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import InvalidGrant, InvalidTarget, OAuthError
from mcp_authz.authorization_server.flow.discovery.issuers import Issuer
from mcp_authz.authorization_server.flow.token.grants.context import GrantContext
from mcp_authz.authorization_server.journeys.service import CodeReplayed
from mcp_authz.authorization_server.tokens.entities import Grant
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.shared.token_response import TokenResponse


async def exchange(
    context: GrantContext, tx: Transaction, issuer: Issuer, client: Client, params: Params, jkt: str | None
) -> TokenResponse | OAuthError:
    outcome = await context.journeys.redeem_code(
        tx,
        params.require("code"),
        client_id=client.client_id,
        code_verifier=params.get("code_verifier"),
        redirect_uri=params.get("redirect_uri"),
        resource=single_resource(params),
        dpop_jkt=jkt,
    )
    if isinstance(outcome, CodeReplayed):
        await context.tokens.revoke_family(tx, outcome.journey_id)
        return InvalidGrant("the authorization code was already used; the tokens issued for it are revoked")
    request = outcome.request
    if request is None or outcome.user_id is None or outcome.issuer != issuer.url:
        raise InvalidGrant("the authorization code is not valid at this issuer")
    grant = Grant(
        journey_id=outcome.id,
        issuer=outcome.issuer,
        client_id=client.client_id,
        subject=outcome.user_id,
        scope=request.scope,
        resource=request.resource,
        jkt=jkt,
    )
    await context.consents.used(tx, outcome)  # the connected apps page's "last used" (issue 17)
    with_refresh_token = "refresh_token" in client.grant_types
    return await context.tokens.issue(tx, grant, with_refresh_token=with_refresh_token, public=client.is_public)


def single_resource(params: Params) -> str | None:
    """The token request's ``resource`` (RFC 8707 §2.2): at most one, since a grant has one audience."""
    resources = params.get_all("resource")
    if len(resources) > 1:
        raise InvalidTarget("ask for one resource per token request")
    return resources[0] if resources else None
