"""The reference MCP server with token verification taken out, to price authentication.

The same tools and SDK app as ``python -m mcp_server`` (``create_tools_app``) and the same CORS
layer, with a fixed user in front instead of ``BearerAuth``. It exists only here, in the benchmarks: the server's own
command line has no way to turn authentication off.

::

    python -m scripts.bench.open_mcp --port 8100
"""

import sys
import time

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_authz.mcp_server.app import browser_readable, create_tools_app
from mcp_authz.mcp_server.settings import load
from scripts.bench.serving import serve


class FixedUser:
    """Every request is ``demo`` with every scope, as ``BearerAuth`` would say after a verification."""

    def __init__(self, app: ASGIApp, resource: str) -> None:
        self.app = app
        token = AccessToken(
            token="unverified",
            client_id="bench",
            scopes=["mcp:read", "mcp:write"],
            expires_at=int(time.time()) + 24 * 3600,
            resource=resource,
            subject="demo",
        )
        self._user = AuthenticatedUser(token)
        self._credentials = AuthCredentials(token.scopes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["user"] = self._user
        scope["auth"] = self._credentials
        await self.app(scope, receive, send)


def main() -> None:
    settings = load(sys.argv[1:])
    serve(browser_readable(FixedUser(create_tools_app(settings), settings.resource)), settings.port)


if __name__ == "__main__":
    main()
