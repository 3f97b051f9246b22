"""The revocation endpoint (RFC 7009 §2): ``POST /revoke`` and ``POST /mcp/{id}/revoke``.

200 with an empty body whether or not the token was found (§2.2); failed client authentication
is 401 with a challenge, as at the token endpoint; fetches are charged to the address, too. Every
request spends from the address's revocation limit first (§2: the endpoint resists token scanning;
429 with ``Retry-After`` past it, ``web/rate_limits.py``).
"""

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.errors import NO_STORE, InvalidClient
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.client_auth import challenge, client_credentials
from mcp_authz.authorization_server.web.params import read_form
from mcp_authz.authorization_server.web.rate_limits import charge_fetches_to


async def revoke(request: Request) -> Response:
    found = services(request)
    issuer = await found.issuers.resolve(request.path_params.get("mcp_server_id"))
    found.limits.revocation(request)
    params = await read_form(request, found.settings.max_body_bytes)
    charge_fetches_to(request)
    try:
        credentials = client_credentials(request, params)
        await found.revocation.revoke(issuer, credentials, params.require("token"), params.get("token_type_hint"))
    except InvalidClient as error:
        return challenge(error, issuer.url)
    return Response(status_code=200, headers=NO_STORE)
