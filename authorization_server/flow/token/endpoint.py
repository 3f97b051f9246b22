"""The token endpoint (OAuth 2.1 §3.2): ``POST /token`` and ``POST /mcp/{id}/token``.

Every answer carries ``Cache-Control: no-store``. Failed client authentication is 401 with a
``WWW-Authenticate`` challenge (§3.2.4), which MCP clients take as the sign to register again.
Requests are rate limited per address before the client is authenticated, and per client only
after it authenticated, so naming a client does not spend its limit (``web/rate_limits.py``); the
metadata documents and JWK Sets they make this server fetch are limited per address (``FetchLimit``).
A ``DPoP`` header carries the client's proof (RFC 9449 §5); when nonces are required each answer
names the current one in ``DPoP-Nonce`` (§8).
"""

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse

from mcp_authz.authorization_server.errors import NO_STORE, InvalidClient
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.client_auth import challenge, presented_credentials
from mcp_authz.authorization_server.web.params import read_form
from mcp_authz.authorization_server.web.rate_limits import charge_fetches_to


async def token(request: Request) -> JSONResponse:
    found = services(request)
    issuer = await found.issuers.resolve(request.path_params.get("mcp_server_id"))
    params = await read_form(request, found.settings.max_body_bytes)
    charge_fetches_to(request)
    try:
        credentials = presented_credentials(request, params)
        found.limits.token(request)
        admit = partial(found.limits.token_client, request)
        dpop = request.headers.getlist("dpop")
        response = await found.grants.exchange(issuer, credentials, params, admit, dpop)
    except InvalidClient as error:
        return challenge(error, issuer.url)
    nonce = found.grants.dpop.nonce()
    return JSONResponse(response.to_json(), headers={**NO_STORE, **({"DPoP-Nonce": nonce} if nonce else {})})
