"""The MCP server application: the SDK's streamable HTTP app, its tools, behind bearer auth.

::

    CORSMiddleware                    browser clients may read every answer (starlette)
      BearerAuth                      401 / 403 challenges, token verification (bearer_auth.py)
        AuthContextMiddleware         makes the token visible to tools (mcp SDK)
          MCPServer streamable HTTP   /mcp, plus /.well-known/oauth-protected-resource[/mcp] and /health
"""

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from mcp_authz.mcp_server.bearer_auth import BearerAuth
from mcp_authz.mcp_server.downstream import DownstreamApi
from mcp_authz.mcp_server.health import HEALTH_PATH, health
from mcp_authz.mcp_server.introspection import IntrospectingVerifier
from mcp_authz.mcp_server.protected_resource import metadata_document, metadata_endpoint, metadata_paths
from mcp_authz.mcp_server.settings import Settings
from mcp_authz.mcp_server.token_verifier import JwtVerifier, Verifier
from mcp_authz.mcp_server.tools import IMPLIED_SCOPES, TOOL_SCOPES, build_tools

#: USER-NEEDS theme 7: browser-based clients (the MCP Inspector, web hosts) discover and call the
#: server with ``fetch``. Any origin may read the answers, as at the authorization server
#: (decision 0011): no cookies are involved, a bearer token is the credential, and the SDK's
#: Origin check (MCP Streamable HTTP, Security) still decides which pages are served at all.
CORS_ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "DPoP",
    "Last-Event-ID",
    "MCP-Protocol-Version",
    "Mcp-Session-Id",
    "Mcp-Method",
    "Mcp-Name",
]
#: The challenge a browser client must read to start authorization, and the transport's headers.
CORS_EXPOSED_HEADERS = ["WWW-Authenticate", "DPoP-Nonce", "Mcp-Session-Id", "MCP-Protocol-Version"]


def create_app(settings: Settings) -> ASGIApp:
    local = JwtVerifier(settings)
    downstream = DownstreamApi(settings, local) if settings.downstream_api else None
    verifier: Verifier = IntrospectingVerifier(settings, local) if settings.introspection_client_secret else local
    protected = BearerAuth(
        create_tools_app(settings, downstream),
        settings=settings,
        verifier=verifier,
        tool_scopes=TOOL_SCOPES,
        implied_scopes=IMPLIED_SCOPES,
    )
    return browser_readable(protected)


def create_tools_app(settings: Settings, downstream: DownstreamApi | None = None) -> ASGIApp:
    """The MCP endpoint and the metadata, with no token check: only ever served behind ``BearerAuth``
    (the benchmarks put a fixed user in front instead, to price authentication)."""
    server = build_tools(settings.name, downstream)
    endpoint = metadata_endpoint(metadata_document(settings))
    for path in metadata_paths(settings):
        server.custom_route(path, methods=["GET"])(endpoint)
    server.custom_route(HEALTH_PATH, methods=["GET"])(health)
    app = server.streamable_http_app(streamable_http_path=settings.mcp_path, host=settings.host)
    return AuthContextMiddleware(app)


def browser_readable(app: ASGIApp) -> ASGIApp:
    """CORS on every answer, the challenges included (see ``CORS_ALLOWED_HEADERS``)."""
    return CORSMiddleware(
        app,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=CORS_ALLOWED_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        max_age=86400,
    )
