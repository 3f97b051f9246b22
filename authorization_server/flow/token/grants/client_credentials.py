"""The client credentials grant (OAuth 2.1 §4.2): a machine client's token, for itself::

     +---------+                                  +---------------+
     |         |>--(1) client authentication, --->| Authorization |
     | Client  |       [scope], [resource]        |     Server    |
     |         |<--(2) access token (JWT) --------<|               |
     +---------+                                  +---------------+

RFC 6749 §4.4: the grant is for resources "previously arranged with the authorization server".
Here that arrangement is the operator's approval (``clients add --grant client_credentials``,
``clients approve``): which MCP servers the client may get tokens for, and with which scopes
(docs/decisions/0018). Registration (RFC 7591, RFC 7592) and client ID metadata documents never
give it. So:

- a client the operator approved for no MCP server at all is ``unauthorized_client`` (RFC 6749 §5.2);
- the ``resource`` names the audience as at /authorize (RFC 8707 §2); an MCP server the client is
  not approved for is ``invalid_target`` (RFC 8707 §2);
- the scope must be the MCP server's (``invalid_scope``); the token gets what was asked within
  what was approved (RFC 6749 §3.3: the server may issue a narrower scope, and says so in
  ``scope``); nothing left is ``invalid_scope``; no scope asks for every approved one;
- the token's ``sub`` and ``client_id`` are the client and it carries ``"machine": true``
  (``tokens/access_tokens.py``), so that a resource server can tell it acts for no user;
- there is no refresh token (§4.2.3: it can ask again).

The tokens of one client for one MCP server form one journey (docs/decisions/0018).
"""

from mcp_authz.authorization_server.clients.entities import Client
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import InvalidScope, InvalidTarget, OAuthError, UnauthorizedClient
from mcp_authz.authorization_server.flow.authorization.requests import requested_scope
from mcp_authz.authorization_server.flow.discovery.issuers import Issuer
from mcp_authz.authorization_server.flow.token.grants.authorization_code import single_resource
from mcp_authz.authorization_server.flow.token.grants.context import GrantContext
from mcp_authz.authorization_server.tokens.entities import Grant
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.shared.scopes import format_scope
from mcp_authz.shared.token_response import TokenResponse


async def exchange(
    context: GrantContext, tx: Transaction, issuer: Issuer, client: Client, params: Params, jkt: str | None
) -> TokenResponse | OAuthError:
    if client.is_public:
        raise UnauthorizedClient("the client_credentials grant is only for confidential clients (OAuth 2.1 §4.2)")
    if client.from_metadata_document or not await context.clients.machine_approvals(tx, client.client_id):
        raise UnauthorizedClient(
            "this client may not use the client_credentials grant: the server's operator has not approved it",
            detail=f"no client_credentials approval for {client.client_id}",
        )
    server = await context.issuers.audience(issuer, single_resource(params))
    approval = await context.clients.machine_approval(tx, client, server.id)
    if approval is None:
        raise InvalidTarget(f"this client is not approved for client_credentials tokens for {server.resource}")
    allowed = tuple(scope for scope in approval.scopes if scope in server.scopes)
    asked = requested_scope(params.get("scope"), server.scopes, allowed)
    scope = tuple(scope for scope in asked if scope in allowed)
    if not scope:
        raise InvalidScope(f"this client is approved only for the scope {format_scope(allowed)!r} here")
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
        machine=True,
        jkt=jkt,
    )
    return await context.tokens.issue(tx, grant, with_refresh_token=False)
