"""CORS for the endpoints browser-based MCP clients call with ``fetch`` (USER-NEEDS theme 7).

RFC 9700 §2.6 and OAuth 2.1 §3.1: CORS may be enabled on the metadata, JWKS, registration,
token and revocation endpoints, and must not be on ``/authorize``, which browsers reach by
navigation, nor on the sign-in and consent pages. So it is not app-wide: :func:`cors` declares
exactly the routes that get it, and a route without it answers no ``Access-Control-*`` header.

Any origin is allowed: these endpoints use no cookies, and their callers authenticate with what
they send (a client secret, a code verifier). A preflight (``OPTIONS``) is answered by the route,
before the endpoint, so it never meets client authentication or a rate limit. The headers of the
other answers are added by the app's one middleware layer (``app.Edge``) through
:func:`response_headers`, so a route needs no middleware of its own wrapping every request.
"""

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mcp_authz.authorization_server.web.routing import Route

#: What browser clients send besides the CORS-safelisted headers: client credentials, DPoP proofs, JSON
#: bodies, and the MCP transport headers that some clients add to every request.
ALLOWED_HEADERS = "Authorization, Content-Type, DPoP, MCP-Protocol-Version, Mcp-Method, Mcp-Name"
#: Response headers a browser client needs to read: the 401 challenge, the 429 wait, the DPoP nonce (RFC 9449 §8).
EXPOSED_HEADERS = "WWW-Authenticate, Retry-After, DPoP-Nonce"
#: How long a browser may cache a preflight answer: one day, in seconds.
MAX_AGE = "86400"
#: What every answer of a CORS route but the preflight gets, as raw ASGI headers.
RESPONSE_HEADERS = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
)


class CorsRoute(Route):
    """A route that answers preflights itself; :func:`response_headers` gives its other answers CORS headers."""

    def __init__(self, path: str, endpoint: Callable[..., Any], methods: tuple[str, ...]) -> None:
        super().__init__(path, endpoint, methods=[*methods, "OPTIONS"])
        self.preflight_headers = {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": ", ".join((*methods, "OPTIONS")),
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        }

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "OPTIONS":
            await Response(status_code=204, headers=self.preflight_headers)(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def cors(path: str, endpoint: Callable[..., Any], methods: tuple[str, ...]) -> Route:
    """A route that browsers on any origin may call, and preflight, with ``methods``."""
    return CorsRoute(path, endpoint, methods)


def response_headers(scope: Scope) -> tuple[tuple[bytes, bytes], ...]:
    """The CORS headers to add to the answer to ``scope``: on a CORS route's own methods, none elsewhere.

    Not on a preflight (it has its own), nor on a 405 for a method the route does not take.
    """
    route = scope.get("route")
    # starlette types ``methods`` as optional; a CorsRoute always has them.
    if isinstance(route, CorsRoute) and scope["method"] != "OPTIONS" and scope["method"] in (route.methods or ()):
        return RESPONSE_HEADERS
    return ()
