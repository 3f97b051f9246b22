"""The signed-in user's connected apps: the clients they approved, and taking that approval back.

MCP security best practices (Confused Deputy, per-client consent) ask that consent can be
revoked. Revoking an app forgets the consent, so its next authorization asks again, and ends its
grants for that user and MCP server the way RFC 7009 revocation does (``flow/revocation/service.py``): every
refresh token of the family is revoked and the journey is stamped ``revoked``.
"""

from dataclasses import dataclass
from datetime import datetime

from mcp_authz.authorization_server.accounts.entities import User
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.consents.entities import Consent
from mcp_authz.authorization_server.consents.service import ConsentService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidRequest
from mcp_authz.authorization_server.flow.revocation.service import RevocationService
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.web.hosts import host_of, with_a_label_host

#: What the connected apps page's form proves with its CSRF token, keyed by the session cookie.
FORM_PURPOSE = "account/apps"


@dataclass(frozen=True)
class ConnectedApp:
    """One approved client at one MCP server, as the page lists it."""

    client_name: str
    client_id: str
    #: The client id as shown: a metadata document URL with its host as an A-label.
    shown_client_id: str
    #: The host publishing the client's metadata document (CIMD §6.3), else ``None``.
    client_host: str | None
    #: Hosts are A-labels (punycode), so that a look-alike Unicode host shows as one (issue 11 item 11).
    redirect_hosts: tuple[str, ...]
    mcp_server_id: str
    server_name: str
    resource: str
    scopes: tuple[str, ...]
    #: The MCP server's words for each scope (``mcp-servers add --describe-scope``), ``None`` where it has none.
    scope_descriptions: tuple[str | None, ...]
    approved_at: datetime
    #: When tokens were last issued to it under this approval: a code redeemed, a refresh (issue 17).
    last_used_at: datetime | None


@dataclass(frozen=True)
class ConnectedApps:
    username: str
    apps: tuple[ConnectedApp, ...]


class ConnectedAppsService:
    def __init__(
        self,
        db: Database,
        *,
        accounts: AccountService,
        clients: ClientService,
        consents: ConsentService,
        journeys: JourneyService,
        mcp_servers: McpServerService,
        revocation: RevocationService,
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._clients = clients
        self._consents = consents
        self._journeys = journeys
        self._mcp_servers = mcp_servers
        self._revocation = revocation

    async def apps(self, session_cookie: str | None) -> ConnectedApps | None:
        """The apps the session's user approved, the latest approval first; ``None`` if not signed in."""

        async def unit(tx: Transaction) -> ConnectedApps | None:
            user = await self._accounts.session_user(tx, session_cookie)
            return None if user is None else await self._apps(tx, user)

        return await self._db.run(unit)

    async def apps_of(self, username: str) -> ConnectedApps:
        """The apps the user named ``username`` approved, as the operator's console shows them (issue 17).

        ``ValueError`` if there is no such user.
        """

        async def unit(tx: Transaction) -> ConnectedApps:
            return await self._apps(tx, await self._accounts.named(tx, username))

        return await self._db.run(unit)

    async def approval(self, session_cookie: str | None, client_id: str, mcp_server_id: str) -> ConnectedApps | None:
        """The one approval Revoke asks about, as a list of one; ``None`` if not signed in.

        ``InvalidRequest`` when the user has no such approval (revoked already, or never given).
        """
        listed = await self.apps(session_cookie)
        if listed is None:
            return None
        chosen = tuple(app for app in listed.apps if (app.client_id, app.mcp_server_id) == (client_id, mcp_server_id))
        if not chosen:
            raise InvalidRequest("You have no such connected app: it was revoked already, or never approved.")
        return ConnectedApps(listed.username, chosen)

    async def revoke(self, session_cookie: str | None, client_id: str, mcp_server_id: str) -> None:
        """Forget the user's consent to ``client_id`` at ``mcp_server_id`` and end the grants it led to.

        Codes issued but not yet redeemed end too, so no token comes after the revocation.
        """

        async def unit(tx: Transaction) -> None:
            user = await self._accounts.session_user(tx, session_cookie)
            if user is None:
                raise InvalidRequest("Your session has ended. Sign in again to manage your connected apps.")
            reason = "the user revoked the app on the connected apps page"
            await self._revoke(tx, user, client_id, mcp_server_id, reason)

        await self._db.run(unit)

    async def revoke_of(self, username: str, client_id: str, mcp_server_id: str) -> None:
        """The operator revokes one of the user's apps, as the user would (issue 17); ``ValueError`` if no such user."""

        async def unit(tx: Transaction) -> None:
            user = await self._accounts.named(tx, username)
            await self._revoke(tx, user, client_id, mcp_server_id, "the operator revoked the app in the console")

        await self._db.run(unit)

    async def _apps(self, tx: Transaction, user: User) -> ConnectedApps:
        consents = await self._consents.of_user(tx, user.id)
        apps = [await self._app(tx, consent) for consent in consents]
        return ConnectedApps(user.username, tuple(app for app in apps if app is not None))

    async def _revoke(self, tx: Transaction, user: User, client_id: str, mcp_server_id: str, reason: str) -> None:
        await self._consents.forget(tx, user.id, client_id, mcp_server_id)
        for grant_id in await self._journeys.granted(tx, user.id, client_id, mcp_server_id):
            await self._revocation.end_grant(tx, grant_id, reason)

    async def _app(self, tx: Transaction, consent: Consent) -> ConnectedApp | None:
        client = await self._clients.find(tx, consent.client_id, consent.issuer)
        server = await self._mcp_servers.get(tx, consent.mcp_server_id)
        if client is None or server is None:  # deleted meanwhile: its consent goes with it
            return None
        return ConnectedApp(
            client_name=client.display_name,
            client_id=client.client_id,
            shown_client_id=with_a_label_host(client.client_id),
            client_host=host_of(client.client_id) if client.from_metadata_document else None,
            redirect_hosts=tuple(sorted({host_of(uri) for uri in client.redirect_uris})),
            mcp_server_id=server.id,
            server_name=server.name,
            resource=server.resource,
            scopes=consent.scope,
            scope_descriptions=tuple(server.describe(scope) for scope in consent.scope),
            approved_at=consent.approved_at,
            last_used_at=consent.last_used_at,
        )
