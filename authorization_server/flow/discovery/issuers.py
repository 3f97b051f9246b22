"""Issuers: the root issuer, and one issuer per MCP server (docs/decisions/0001-issuer-per-mcp-server.md).

The root issuer (``http://localhost:9000``) serves generic OAuth clients. Each MCP server ``id``
has its own issuer ``{root}/mcp/{id}``, whose metadata (RFC 8414 §3.1, path-inserted) names the
MCP registration endpoint and that server's scopes. An MCP server's protected resource metadata
names its issuer, so any spec-following MCP client registers through the MCP endpoint and its
journey is recorded without the client knowing journeys exist.
"""

import json
from dataclasses import dataclass
from urllib.parse import quote

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata as AuthlibMetadata

from mcp_authz.authorization_server.clients.assertions import SIGNING_ALGS as ASSERTION_SIGNING_ALGS
from mcp_authz.authorization_server.errors import InvalidTarget, NotFound
from mcp_authz.authorization_server.mcp_servers.cache import McpServerCache
from mcp_authz.authorization_server.mcp_servers.entities import McpServer
from mcp_authz.authorization_server.routes import (
    AUTHORIZE_PATH,
    CLIENT_CONFIGURATION_PATH,
    INTROSPECT_PATH,
    JWKS_PATH,
    MCP_ISSUER_PATH,
    MCP_REGISTER_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
)
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.shared.dpop import ALGORITHMS as DPOP_ALGORITHMS
from mcp_authz.shared.metadata import AuthorizationServerMetadata
from mcp_authz.shared.pkce import METHOD as PKCE_METHOD
from mcp_authz.shared.resource import same_resource

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
TOKEN_ENDPOINT_AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", "private_key_jwt")
#: SEP-2207: listed in every issuer's scopes_supported, so MCP clients may ask for it. Refresh tokens
#: go to clients registered with the refresh_token grant, whether they ask for it or not (docs/decisions/0018).
OFFLINE_ACCESS = "offline_access"
#: RFC 7662 §2.1: resource servers authenticate with the secret of their MCP server record.
#: RFC 8693 §2.1: MCP servers exchange their client's access token for the user's downstream token.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
#: RFC 7523 §2.1: a client presents an enterprise IdP's ID-JAG (SEP-990, ``flow/token/grants/jwt_bearer.py``).
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: draft-ietf-oauth-identity-assertion-authz-grant, SEP-990: advertised in ``authorization_grant_profiles_supported``.
ID_JAG_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"
#: SEP-990: the token type a client asks of its IdP by token exchange (``id_jag_issuance.py``), and its JWT ``typ``.
ID_JAG_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id-jag"
ID_JAG_TYP = "oauth-id-jag+jwt"
#: RFC 8693 §3: the token type of an access token, asked for and issued.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
INTROSPECTION_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def mcp_issuer_url(root: str, mcp_server_id: str) -> str:
    """The issuer identifier of the MCP server ``mcp_server_id`` under the root issuer ``root`` (decision 0001)."""
    return root + MCP_ISSUER_PATH.format(mcp_server_id=mcp_server_id)


@dataclass(frozen=True)
class Issuer:
    """An issuer identifier (RFC 8414 §2) and, for an MCP issuer, the MCP server it serves."""

    url: str
    mcp_server: McpServer | None = None


class IssuerService:
    def __init__(self, settings: Settings, mcp_servers: McpServerCache) -> None:
        self.root = Issuer(settings.issuer)
        self._default_mcp_server = settings.default_mcp_server
        self._registration_open = settings.registration_open
        self._mcp_servers = mcp_servers
        self._metadata: dict[str, tuple[object, bytes]] = {}
        self._mcp_issuers: dict[str, Issuer] = {}

    async def resolve(self, mcp_server_id: str | None) -> Issuer:
        """The root issuer, or the issuer of the MCP server ``mcp_server_id`` (``NotFound`` if unknown)."""
        if mcp_server_id is None:
            return self.root
        server = await self._mcp_servers.get(mcp_server_id)
        if server is None:
            raise NotFound(f"no MCP server with id {mcp_server_id!r} is registered here")
        issuer = self._mcp_issuers.get(server.id)
        if issuer is None or issuer.mcp_server is not server:  # made once per version of the server's record
            issuer = Issuer(mcp_issuer_url(self.root.url, server.id), server)
            self._mcp_issuers[server.id] = issuer
        return issuer

    async def of_url(self, url: str) -> Issuer:
        """The issuer whose identifier is ``url`` (``NotFound`` if its MCP server is gone)."""
        prefix = mcp_issuer_url(self.root.url, "")
        return await self.resolve(url.removeprefix(prefix) if url.startswith(prefix) else None)

    def client_configuration_uri(self, client_id: str) -> str:
        """The ``registration_client_uri`` of a client (RFC 7592 §1.2)."""
        return self.root.url + CLIENT_CONFIGURATION_PATH.format(client_id=quote(client_id, safe=""))

    async def scopes(self, issuer: Issuer) -> tuple[str, ...]:
        """The scopes offered at ``issuer``: its MCP server's, or every server's at the root; and ``offline_access``."""
        servers = [issuer.mcp_server] if issuer.mcp_server is not None else await self._mcp_servers.all()
        scopes: dict[str, None] = {}
        for server in servers:
            scopes.update(dict.fromkeys(server.scopes))
        return (*scopes, OFFLINE_ACCESS)

    async def audience(self, issuer: Issuer, resource: str | None) -> McpServer:
        """The MCP server a request at ``issuer`` asks a token for (RFC 8707 §2).

        At an MCP issuer the ``resource`` must be that server's, and defaults to it (RFC 9068
        §3); at the root issuer it must name some registered MCP server, and defaults to the
        configured default MCP server, if any.
        """
        if issuer.mcp_server is not None:
            if resource is None or same_resource(resource, issuer.mcp_server.resource):
                return issuer.mcp_server
            raise InvalidTarget(f"this issuer only issues tokens for {issuer.mcp_server.resource}")
        if resource is None:
            default = await self._mcp_servers.get(self._default_mcp_server) if self._default_mcp_server else None
            if default is None:
                raise InvalidTarget("name the MCP server in the resource parameter (RFC 8707)")
            return default
        server = await self._mcp_servers.by_resource(resource)
        if server is None:
            raise InvalidTarget("the resource is not an MCP server registered here")
        return server

    async def metadata_json(self, issuer: Issuer) -> bytes:
        """The issuer's RFC 8414 metadata as bytes, built once per version of what it depends on."""
        depends_on: object = issuer.mcp_server or tuple(await self._mcp_servers.all())
        cached = self._metadata.get(issuer.url)
        if cached is None or cached[0] != depends_on:
            cached = (depends_on, await self._build_metadata(issuer))
            self._metadata[issuer.url] = cached
        return cached[1]

    async def _build_metadata(self, issuer: Issuer) -> bytes:
        root = self.root.url
        server = issuer.mcp_server
        registration = None
        if self._registration_open:  # closed: no registration endpoint to name (RFC 8414 §2, docs/decisions/0025)
            registration = root + (
                MCP_REGISTER_PATH.format(mcp_server_id=server.id, version=server.version) if server else REGISTER_PATH
            )
        metadata = AuthorizationServerMetadata(
            issuer=issuer.url,
            authorization_endpoint=issuer.url + AUTHORIZE_PATH,
            token_endpoint=issuer.url + TOKEN_PATH,
            registration_endpoint=registration,
            jwks_uri=root + JWKS_PATH,
            scopes_supported=await self.scopes(issuer),
            response_types_supported=("code",),
            response_modes_supported=("query",),
            grant_types_supported=(*GRANT_TYPES, TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT),
            authorization_grant_profiles_supported=(ID_JAG_PROFILE,),
            token_endpoint_auth_methods_supported=TOKEN_ENDPOINT_AUTH_METHODS,
            token_endpoint_auth_signing_alg_values_supported=ASSERTION_SIGNING_ALGS,
            code_challenge_methods_supported=(PKCE_METHOD,),
            revocation_endpoint=issuer.url + REVOKE_PATH,
            # RFC 7009 §2.1: clients authenticate at /revoke as they do at /token.
            revocation_endpoint_auth_methods_supported=TOKEN_ENDPOINT_AUTH_METHODS,
            revocation_endpoint_auth_signing_alg_values_supported=ASSERTION_SIGNING_ALGS,
            introspection_endpoint=issuer.url + INTROSPECT_PATH,
            introspection_endpoint_auth_methods_supported=INTROSPECTION_AUTH_METHODS,
            authorization_response_iss_parameter_supported=True,
            client_id_metadata_document_supported=True,
            dpop_signing_alg_values_supported=DPOP_ALGORITHMS,
        ).to_json()
        AuthlibMetadata(metadata).validate()  # an independent check of RFC 8414 §2, once per build
        return json.dumps(metadata).encode()
