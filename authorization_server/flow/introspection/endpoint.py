"""The introspection endpoint (RFC 7662 §2): ``POST /introspect`` and ``POST /mcp/{id}/introspect``.

Callers are MCP servers with their credentials; without them the answer is 401 (§2.1).
``token_type_hint`` is accepted and ignored: only access tokens are introspected. Each failed
authentication spends from the address's limit, and while it has none left every request from
there is 429 with ``Retry-After`` (§4: the server protects against token scanning;
``web/rate_limits.py``).
"""

from starlette.requests import Request
from starlette.responses import JSONResponse

from mcp_authz.authorization_server.errors import NO_STORE, InvalidClient
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.client_auth import challenge, client_credentials
from mcp_authz.authorization_server.web.params import read_form


async def introspect(request: Request) -> JSONResponse:
    found = services(request)
    issuer = await found.issuers.resolve(request.path_params.get("mcp_server_id"))
    found.limits.introspection(request)
    params = await read_form(request, found.settings.max_body_bytes)
    try:
        credentials = client_credentials(request, params)
        answer = await found.introspection.introspect(issuer, credentials, params.require("token"))
    except InvalidClient as error:
        found.limits.introspection_failed(request)
        return challenge(error, issuer.url)
    return JSONResponse(answer, headers=NO_STORE)
