"""The client configuration endpoint (RFC 7592 §2): ``GET``, ``PUT``, ``DELETE /register/{client_id}``.

The registration access token comes as a Bearer token (RFC 6750 §2.1); without one, with a
wrong one, or for an unknown client the answer is 401 ``invalid_token`` with a ``Bearer``
challenge (RFC 7592 §2.1), whatever the body of a ``PUT`` holds. Requests spend from the
registration rate limit, per address.
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_authz.authorization_server.clients.entities import client_information
from mcp_authz.authorization_server.errors import NO_STORE, InvalidClientMetadata
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.params import read_json


async def client_configuration(request: Request) -> Response:
    found = services(request)
    found.limits.registration(request)
    client_id = request.path_params["client_id"]
    token = _bearer(request)
    if request.method == "DELETE":
        await found.client_management.delete(client_id, token)
        return Response(status_code=204, headers=NO_STORE)
    if request.method == "PUT":
        await found.client_management.read(client_id, token)  # the token first: a stranger's body is never read
        try:
            body = await read_json(request, found.settings.max_body_bytes)
        except ValueError as exc:
            raise InvalidClientMetadata(str(exc)) from None
        client = await found.client_management.replace(client_id, token, body)
    else:
        client = await found.client_management.read(client_id, token)
    information = client_information(client, found.issuers.client_configuration_uri(client.client_id))
    return JSONResponse(information, headers=NO_STORE)


def _bearer(request: Request) -> str | None:
    """The Bearer token of the ``Authorization`` header (RFC 6750 §2.1), if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
