"""Discovery: authorization server metadata (RFC 8414 §3) and the JWK Set (RFC 7517 §5).

The documents are built once and served as bytes, by plain ASGI endpoints: no ``Request`` nor
``Response`` object per request, since nothing of the request but the path is read. An
``OAuthError`` (an unknown MCP server) goes to the app's handler like any other endpoint's,
and ``app.Edge`` adds the CORS headers to either answer.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from mcp_authz.authorization_server.services import Services, services_in

JSON = (b"content-type", b"application/json")


class Document:
    """An ASGI endpoint answering 200 with the JSON bytes ``build(services, path_params)`` returns."""

    def __init__(self, build: Callable[[Services, dict[str, Any]], Awaitable[bytes]]) -> None:
        self._build = build

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._build(services_in(scope), scope["path_params"])
        headers = [(b"content-length", str(len(body)).encode()), JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _metadata(found: Services, path_params: dict[str, Any]) -> bytes:
    """``GET /.well-known/oauth-authorization-server[/mcp/{id}]``: the issuer's metadata (RFC 8414 §3.2)."""
    issuer = await found.issuers.resolve(path_params.get("mcp_server_id"))
    return await found.issuers.metadata_json(issuer)


async def _jwks(found: Services, path_params: dict[str, Any]) -> bytes:
    """``GET /jwks.json``: the public keys that verify our access tokens, old ones until they retire."""
    return await found.tokens.keys.jwks_json()


metadata = Document(_metadata)
jwks = Document(_jwks)
