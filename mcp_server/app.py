"""The MCP server application: the SDK's streamable HTTP app, its tools, behind bearer auth.

::

    BearerAuth                      401 / 403 challenges, token verification (bearer_auth.py)
      AuthContextMiddleware         makes the token visible to tools (mcp SDK)
        MCPServer streamable HTTP   /mcp, plus /.well-known/oauth-protected-resource[/mcp]
"""

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from starlette.types import ASGIApp

from mcp_server.bearer_auth import BearerAuth
from mcp_server.downstream import DownstreamApi
from mcp_server.introspection import IntrospectingVerifier
from mcp_server.protected_resource import metadata_document, metadata_endpoint, metadata_paths
from mcp_server.settings import Settings
from mcp_server.token_verifier import JwtVerifier, Verifier
from mcp_server.tools import IMPLIED_SCOPES, TOOL_SCOPES, build_tools


def create_app(settings: Settings) -> ASGIApp:
    local = JwtVerifier(settings)
    server = build_tools(settings.name, DownstreamApi(settings, local) if settings.downstream_api else None)
    endpoint = metadata_endpoint(metadata_document(settings))
    for path in metadata_paths(settings):
        server.custom_route(path, methods=["GET"])(endpoint)
    app = server.streamable_http_app(streamable_http_path=settings.mcp_path, host=settings.host)
    verifier: Verifier = IntrospectingVerifier(settings, local) if settings.introspection_client_secret else local
    return BearerAuth(
        AuthContextMiddleware(app),
        settings=settings,
        verifier=verifier,
        tool_scopes=TOOL_SCOPES,
        implied_scopes=IMPLIED_SCOPES,
    )
