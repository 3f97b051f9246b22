"""The downstream providers' way back: ``GET /downstream/callback`` (issue 4, OAuth 2.1 §4.1.2).

This server's redirect URI at every provider of an MCP connection. The answer goes on to the
next provider or back to the MCP client (``flow/downstream/authorization.py``); an answer that
cannot be tied to a journey waiting in this browser (no state, an unknown, used or forged one)
is shown as an error page, never redirected. CORS is never enabled here: browsers come by navigation.
"""

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.errors import OAuthError
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.pages import error_page
from mcp_authz.authorization_server.web.params import query_params
from mcp_authz.authorization_server.web.redirects import next_step


async def callback(request: Request) -> Response:
    found = services(request)
    try:
        outcome = await found.downstream.callback(query_params(request), found.cookies.browser_secret(request))
    except OAuthError as error:
        return error_page(error)
    return next_step(outcome)
