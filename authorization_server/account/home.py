"""The home page's facts and signing out: who this browser is signed in as, which issuers this server is.

The home page (``GET /``, issue 17) tells a person who followed a link here what this server is
and where to go: the issuers (the root one for generic OAuth clients, one per MCP server,
docs/decisions/0001) with their metadata URLs (RFC 8414 §3), whether this browser is signed in,
the connected apps page, signing out. Signing out ends the browser session (``accounts/``): the
next authorization asks the person to sign in again.
"""

from dataclasses import dataclass

from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.flow.discovery.issuers import mcp_issuer_url
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.routes import METADATA_PATH

#: What the sign-out form proves with its CSRF token, keyed by the session cookie (docs/decisions/0006).
SIGN_OUT_PURPOSE = "account/sign-out"


@dataclass(frozen=True)
class IssuerLink:
    """An issuer as the home page lists it: who it is for, its identifier, its metadata document."""

    name: str
    issuer: str
    metadata_url: str


@dataclass(frozen=True)
class Home:
    #: The signed-in user's name; ``None`` when this browser has no live session.
    username: str | None
    issuers: tuple[IssuerLink, ...]


class HomeService:
    def __init__(
        self, db: Database, *, accounts: AccountService, mcp_servers: McpServerService, root_issuer: str
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._mcp_servers = mcp_servers
        self._root = root_issuer

    async def home(self, session_cookie: str | None) -> Home:
        """The home page's facts, read in one unit of work."""

        async def unit(tx: Transaction) -> Home:
            user = await self._accounts.session_user(tx, session_cookie)
            servers = await self._mcp_servers.all(tx)
            root = IssuerLink("Generic OAuth clients", self._root, self._root + METADATA_PATH)
            per_server = (
                IssuerLink(
                    server.name,
                    mcp_issuer_url(self._root, server.id),
                    # RFC 8414 §3.1: the well-known path goes between the host and the issuer's path.
                    self._root + METADATA_PATH + mcp_issuer_url("", server.id),
                )
                for server in sorted(servers, key=lambda server: server.name.casefold())
            )
            return Home(user.username if user else None, (root, *per_server))

        return await self._db.run(unit)

    async def sign_out(self, session_cookie: str | None) -> None:
        """End the browser session: it no longer signs anyone in, whatever its lifetime left."""
        await self._db.run(lambda tx: self._accounts.end_session(tx, session_cookie))
