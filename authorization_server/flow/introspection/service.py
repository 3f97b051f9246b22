"""Token introspection (RFC 7662): an MCP server asks whether an access token still stands.

§2.1: the caller must authenticate; callers are MCP servers, as client id = their MCP server id
and the secret set by ``mcp-servers credentials ID``, with ``client_secret_basic`` or
``client_secret_post``. §2.2: a token that is unknown, malformed, expired, revoked, issued by
another issuer, or meant for another MCP server is exactly ``{"active": false}`` (§4: no more is
said about it). Refresh tokens are never shown to MCP servers, so they are not introspected
here either: they are ``{"active": false}`` too.

The token's journey records the first check of each active access token (``token_introspected``,
once per ``jti``; issue 17), so an operator sees whether the MCP server ever saw a token issued.
"""

from typing import Any

from mcp_authz.authorization_server.clients.entities import ClientCredentials
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidClient
from mcp_authz.authorization_server.flow.discovery.issuers import INTROSPECTION_AUTH_METHODS, Issuer
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.mcp_servers.cache import McpServerCache
from mcp_authz.authorization_server.tokens.access_tokens import AccessToken
from mcp_authz.authorization_server.tokens.service import TokenService
from mcp_authz.shared.resource import same_resource
from mcp_authz.shared.scopes import format_scope

INACTIVE: dict[str, Any] = {"active": False}


class IntrospectionService:
    def __init__(
        self, db: Database, mcp_servers: McpServerCache, journeys: JourneyService, tokens: TokenService
    ) -> None:
        self._db = db
        self._mcp_servers = mcp_servers
        self._journeys = journeys
        self._tokens = tokens

    async def introspect(self, issuer: Issuer, credentials: ClientCredentials, token: str) -> dict[str, Any]:
        """The introspection response (RFC 7662 §2.2) for ``token``, as the calling MCP server may see it."""
        if credentials.method not in INTROSPECTION_AUTH_METHODS:
            raise InvalidClient("introspection needs the MCP server's credentials (client_secret_basic or _post)")
        caller = await self._mcp_servers.authenticate(credentials.client_id, credentials.secret)

        async def unit(tx: Transaction) -> AccessToken | None:
            access_token = await self._tokens.read_access_token(tx, token)
            if access_token is None:
                return None
            grant = access_token.grant
            if grant.issuer != issuer.url or not same_resource(grant.resource, caller.resource):
                return None
            if not await self._journeys.is_active(tx, grant.journey_id):
                return None
            await self._journeys.token_introspected(tx, grant.journey_id, jti=access_token.jti, mcp_server_id=caller.id)
            return access_token

        access_token = await self._db.run(unit)
        if access_token is None:
            return INACTIVE
        grant = access_token.grant
        machine = {"machine": True} if grant.machine else {}  # a client_credentials token (docs/decisions/0018)
        bound = {"cnf": {"jkt": grant.jkt}} if grant.jkt else {}  # a DPoP-bound token (RFC 9449 §6.2)
        return (
            machine
            | bound
            | {
                "active": True,
                "scope": format_scope(grant.scope),
                "client_id": grant.client_id,
                "sub": grant.subject,
                "aud": grant.resource,
                "iss": grant.issuer,
                "exp": access_token.expires_at,
                "iat": access_token.issued_at,
                "jti": access_token.jti,
                "token_type": "DPoP" if grant.jkt else "Bearer",
            }
        )
