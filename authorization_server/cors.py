"""CORS for the endpoints browser-based MCP clients call with ``fetch`` (USER-NEEDS theme 7).

RFC 9700 §2.6 and OAuth 2.1 §3.1: CORS may be enabled on the metadata, JWKS, registration,
token and revocation endpoints, and must not be on ``/authorize``, which browsers reach by
navigation, nor on the sign-in and consent pages. So it is not app-wide: :func:`cors` wraps
exactly the routes that get it, and a route without it answers no ``Access-Control-*`` header.

Any origin is allowed: these endpoints use no cookies, and their callers authenticate with what
they send (a client secret, a code verifier). A preflight (``OPTIONS``) is answered here, before
the endpoint, so it never meets client authentication or a rate limit.
"""

from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What browser clients send besides the CORS-safelisted headers: client credentials, JSON
#: bodies, and the MCP transport headers that some clients add to every request.
ALLOWED_HEADERS = "Authorization, Content-Type, MCP-Protocol-Version, Mcp-Method, Mcp-Name"
#: Response headers a browser client needs to read: the 401 challenge and the 429 wait.
EXPOSED_HEADERS = "WWW-Authenticate, Retry-After"
#: How long a browser may cache a preflight answer: one day, in seconds.
MAX_AGE = "86400"


class Cors:
    """Answers preflights and adds ``Access-Control-Allow-Origin: *`` to every response."""

    def __init__(self, app: ASGIApp, methods: tuple[str, ...] = ("GET",)) -> None:
        self.app = app
        self.methods = ", ".join((*methods, "OPTIONS"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            preflight = Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Allow-Methods": self.methods,
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": MAX_AGE,
                },
            )
            await preflight(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = "*"
                headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)


def cors(path: str, endpoint: Callable[..., Any], methods: tuple[str, ...]) -> Route:
    """A route that browsers on any origin may call, and preflight, with ``methods``."""
    return Route(
        path,
        endpoint,
        methods=[*methods, "OPTIONS"],
        middleware=[Middleware(Cors, methods=methods)],
    )
