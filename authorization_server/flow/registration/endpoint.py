"""Client registration endpoints (RFC 7591 §3): ``/register``, ``/api/v1/authz/clients/register``
and, for one MCP server, ``/api/v1/authz/clients/register/mcp/{mcp_server_id}/{version}``."""

from starlette.requests import Request
from starlette.responses import JSONResponse

from mcp_authz.authorization_server.errors import NO_STORE, AccessDenied, InvalidClientMetadata
from mcp_authz.authorization_server.flow.registration.service import check_version
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.params import read_json


async def register(request: Request) -> JSONResponse:
    """Register with the root issuer, or, when the path names one, with that MCP server's issuer.

    A server whose operator closed registration refuses first, with 403 ``access_denied``
    (docs/decisions/0025). Then the rate limit per address (RFC 7591 §5), then the MCP server: an unknown id, or a
    version that is not 1 to 64 of ``A-Za-z0-9._-``, is a 404 whatever the body says.
    """
    found = services(request)
    if not found.settings.registration_open:
        raise AccessDenied(
            "dynamic client registration is closed on this server: ask its operator to register the client,"
            " or use a client ID metadata document URL as the client_id"
        )
    found.limits.registration(request)
    issuer = await found.issuers.resolve(request.path_params.get("mcp_server_id"))
    check_version(request.path_params.get("version"))
    try:
        body = await read_json(request, found.settings.max_body_bytes)
    except ValueError as exc:
        raise InvalidClientMetadata(str(exc)) from None
    registration = await found.registration.register(issuer, body, request.path_params.get("version"))
    client_uri = found.issuers.client_configuration_uri(registration.client.client_id)
    return JSONResponse(registration.to_json(client_uri), status_code=201, headers=NO_STORE)
