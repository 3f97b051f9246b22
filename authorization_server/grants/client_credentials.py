"""The client credentials grant (OAuth 2.1 §4.2): a machine client's token, for itself::

     +---------+                                  +---------------+
     |         |>--(1) client authentication, --->| Authorization |
     | Client  |       [scope], [resource]        |     Server    |
     |         |<--(2) access token (JWT) --------<|               |
     +---------+                                  +---------------+

Only a confidential client registered with ``client_credentials`` gets here (``GrantService``
checks the grant type; authentication is whatever method it registered). The ``resource`` names
the audience as at /authorize (RFC 8707 §2), the scope must be the MCP server's, the token's
``sub`` is the client itself, and there is no refresh token (§4.2.3: it can ask again). The
tokens of one client for one MCP server form one journey (docs/decisions/0018).
"""

from authorization_server.authorization_requests import requested_scope
from authorization_server.clients.entities import Client
from authorization_server.db import Transaction
from authorization_server.errors import OAuthError, UnauthorizedClient
from authorization_server.grants.authorization_code import single_resource
from authorization_server.grants.context import GrantContext
from authorization_server.issuers import Issuer
from authorization_server.params import Params
from authorization_server.tokens.entities import Grant
from shared.scopes import format_scope
from shared.token_response import TokenResponse


async def exchange(
    context: GrantContext, tx: Transaction, issuer: Issuer, client: Client, params: Params
) -> TokenResponse | OAuthError:
    if client.is_public:
        raise UnauthorizedClient("the client_credentials grant is only for confidential clients (OAuth 2.1 §4.2)")
    server = await context.issuers.audience(issuer, single_resource(params))
    scope = requested_scope(params.get("scope"), server.scopes, server.default_scopes)
    journey_id = await context.journeys.client_credentials_granted(
        tx,
        issuer=issuer.url,
        client_id=client.client_id,
        mcp_server_id=server.id,
        detail=f"scope {format_scope(scope)!r} for {server.resource}",
    )
    grant = Grant(
        journey_id=journey_id,
        issuer=issuer.url,
        client_id=client.client_id,
        subject=client.client_id,
        scope=scope,
        resource=server.resource,
    )
    return await context.tokens.issue(tx, grant, with_refresh_token=False)
