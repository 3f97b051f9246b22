"""RFC 8693 token exchange at the token endpoint: an MCP server gets the user's downstream token.

An MCP server must never forward the token its client sent it (MCP security best practices,
token passthrough). To call a downstream API for the user it presents that token here as
``subject_token`` and names the connection as ``audience`` (its name or id) or ``resource``
(its provider resource), authenticating with its own resource-server credentials (the ones it
introspects with, migrations/0002). The answer is the user's access token at that provider,
from the journey the subject token was issued in, refreshed at the provider first when it has
expired (the rotated tokens are kept). docs/decisions/0022-token-exchange.md has the profile.

Errors (RFC 8693 §2.2.2): a subject token that is not ours, expired, of another issuer, issued
for another MCP server, or of a grant that was revoked: ``invalid_request``; a connection that
is not the caller's, or for which this grant holds no completed downstream authorization:
``invalid_target``; a caller that is not an MCP server with its credentials: ``invalid_client``.
"""

import asyncio
from datetime import timedelta

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.clients.entities import ClientCredentials
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidClient, InvalidGrant, InvalidRequest, InvalidTarget
from mcp_authz.authorization_server.flow.discovery.issuers import ACCESS_TOKEN_TYPE, INTROSPECTION_AUTH_METHODS, Issuer
from mcp_authz.authorization_server.flow.downstream.providers import ProviderError, Providers
from mcp_authz.authorization_server.flow.token.grants.authorization_code import single_resource
from mcp_authz.authorization_server.flow.token.grants.context import Admit
from mcp_authz.authorization_server.journeys.entities import DownstreamAuthorizationFlow, DownstreamTokens, Step
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.mcp_servers.cache import McpServerCache
from mcp_authz.authorization_server.mcp_servers.entities import McpConnection, McpServer
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.tokens.entities import Grant
from mcp_authz.authorization_server.tokens.service import TokenService
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.shared.resource import same_resource
from mcp_authz.shared.token_response import TokenResponse

#: A downstream token this close to its expiry is refreshed before it is handed out.
EXPIRY_MARGIN = timedelta(seconds=30)


class TokenExchange:
    def __init__(
        self,
        db: Database,
        *,
        mcp_servers: McpServerService,
        mcp_server_cache: McpServerCache,
        journeys: JourneyService,
        tokens: TokenService,
        providers: Providers,
    ) -> None:
        self._db = db
        self._mcp_servers = mcp_servers
        self._mcp_server_cache = mcp_server_cache
        self._journeys = journeys
        self._tokens = tokens
        self._providers = providers
        #: One refresh at a time: a rotated refresh token presented twice would end the grant at the provider.
        self._refreshing = asyncio.Lock()

    async def exchange(
        self, issuer: Issuer, credentials: ClientCredentials, params: Params, admit: Admit
    ) -> TokenResponse:
        """``admit`` is called once the MCP server authenticated (its rate limit: ``flow/token/service.py``)."""
        if credentials.method not in INTROSPECTION_AUTH_METHODS:
            raise InvalidClient("token exchange needs the MCP server's credentials (client_secret_basic or _post)")
        caller = await self._mcp_server_cache.authenticate(credentials.client_id, credentials.secret)
        await self._db.run(lambda tx: admit(tx, caller.id, proven=True))
        subject_token = params.require("subject_token")
        if params.require("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise InvalidRequest(f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
        if params.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
            raise InvalidRequest(f"only {ACCESS_TOKEN_TYPE} can be requested")
        if params.get("actor_token") is not None:
            raise InvalidRequest("delegation with an actor_token is not supported")
        connection = await self._target(caller, params.get("audience"), single_resource(params))

        async def subject(tx: Transaction) -> Grant:
            access_token = await self._tokens.read_access_token(tx, subject_token)
            if access_token is None or access_token.grant.issuer != issuer.url:
                raise InvalidRequest("subject_token is not a valid access token of this issuer")
            grant = access_token.grant
            if not same_resource(grant.resource, caller.resource):
                raise InvalidRequest("subject_token was issued for another MCP server")
            if not await self._journeys.is_active(tx, grant.journey_id):
                raise InvalidRequest("the grant of subject_token is no longer active")
            return grant

        grant = await self._db.run(subject)
        tokens = await self._fresh_tokens(grant.journey_id, connection)
        await self._db.run(
            lambda tx: self._journeys.record(
                tx, grant.journey_id, Step.DOWNSTREAM_TOKEN_EXCHANGED, f"{connection.name}, for MCP server {caller.id}"
            )
        )
        expires_in = int((tokens.expires_at - clock.now()).total_seconds()) if tokens.expires_at else None
        return TokenResponse(
            access_token=tokens.access_token,
            token_type="Bearer",
            expires_in=expires_in,
            scope=tokens.scope,
            issued_token_type=ACCESS_TOKEN_TYPE,
        )

    async def _target(self, caller: McpServer, audience: str | None, resource: str | None) -> McpConnection:
        """The connection the request names, which must be one of the caller's (seed 000's rule)."""
        if (audience is None) == (resource is None):
            raise InvalidRequest("name the connection as audience (its name or id) or as resource, one of them")
        if audience is not None:
            named = audience
            try:
                return await self._db.run(lambda tx: self._mcp_servers.connection_named(tx, caller.id, named))
            except LookupError as exc:
                raise InvalidTarget(str(exc)) from None
        connections = await self._db.run(self._mcp_servers.connections)
        found = [c for c in connections if c.resource and same_resource(c.resource, resource or "")]
        own = [c for c in found if c.mcp_server_id == caller.id]
        if own:
            return own[0]
        if found:
            raise InvalidTarget(f"the connection for {resource} belongs to another MCP server than {caller.id!r}")
        raise InvalidTarget(f"MCP server {caller.id!r} has no connection for {resource}")

    async def _fresh_tokens(self, journey_id: str, connection: McpConnection) -> DownstreamTokens:
        """The grant's tokens at the connection's provider, refreshed there first if they expired (OAuth 2.1 §4.3)."""
        _, tokens = await self._stored(journey_id, connection)
        if not _expired(tokens):
            return tokens
        async with self._refreshing:
            flow, tokens = await self._stored(journey_id, connection)  # another request may have refreshed
            if not _expired(tokens):
                return tokens
            if tokens.refresh_token is None:
                raise InvalidGrant(f"the token at {connection.name} expired and cannot be refreshed; authorize again")
            try:
                endpoints = await self._providers.endpoints(connection)
                refreshed = await self._providers.refresh(connection, endpoints, tokens.refresh_token)
            except ProviderError as exc:
                raise InvalidGrant(
                    f"the token at {connection.name} could not be refreshed; authorize again", detail=str(exc)
                ) from None
            await self._db.run(
                lambda tx: self._journeys.replace_downstream_tokens(
                    tx, flow, refreshed, Step.DOWNSTREAM_TOKEN_REFRESHED, f"{connection.name}: tokens rotated"
                )
            )
        return refreshed

    async def _stored(
        self, journey_id: str, connection: McpConnection
    ) -> tuple[DownstreamAuthorizationFlow, DownstreamTokens]:
        found = await self._db.run(lambda tx: self._journeys.downstream_tokens(tx, journey_id, connection.id))
        if found is None:
            raise InvalidTarget(f"this grant holds no completed downstream authorization for {connection.name}")
        return found


def _expired(tokens: DownstreamTokens) -> bool:
    return tokens.expires_at is not None and tokens.expires_at - EXPIRY_MARGIN <= clock.now()
