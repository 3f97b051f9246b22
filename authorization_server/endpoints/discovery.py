"""Discovery: authorization server metadata (RFC 8414 §3) and the JWK Set (RFC 7517 §5).

The documents are built once and served as bytes.
"""

from starlette.requests import Request
from starlette.responses import Response

from authorization_server.services import services


async def metadata(request: Request) -> Response:
    """``GET /.well-known/oauth-authorization-server[/mcp/{id}]``: the issuer's metadata (RFC 8414 §3.2)."""
    issuer = await services(request).issuers.resolve(request.path_params.get("mcp_server_id"))
    return Response(await services(request).issuers.metadata_json(issuer), media_type="application/json")


async def jwks(request: Request) -> Response:
    """``GET /jwks.json``: the public keys that verify our access tokens, old ones until they retire."""
    return Response(await services(request).tokens.keys.jwks_json(), media_type="application/json")
