"""The users' pages' use cases (issue 17): users as ``users list|add|disable|enable|reset-password|remove`` do
(``UserAdministration``); a user's connected apps are revoked as the user's own page does.
"""

from dataclasses import dataclass

from mcp_authz.authorization_server.account.connected_apps import ConnectedApps, ConnectedAppsService
from mcp_authz.authorization_server.accounts.entities import User
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.admin.console.shared import or_not_found
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.flow.revocation.administration import UserAdministration
from mcp_authz.authorization_server.identity_providers.service import IdentityProviderService, source_of


@dataclass(frozen=True)
class UserLine:
    """A user as the console lists them: the account and where it signs in (``local`` or ``oidc:NAME``)."""

    user: User
    source: str


class UserConsole:
    """``users list|add|disable|enable|reset-password|remove`` for the console, through ``AccountService`` and
    ``UserAdministration``; a user's connected apps and revoking one, as the user's own page does
    (``ConnectedAppsService``: the consent forgotten, the grants ended as RFC 7009 §2 revocation ends them)."""

    def __init__(
        self,
        db: Database,
        *,
        accounts: AccountService,
        administration: UserAdministration,
        connected_apps: ConnectedAppsService,
        identity_providers: IdentityProviderService,
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._administration = administration
        self._connected_apps = connected_apps
        self._identity_providers = identity_providers

    async def list(self) -> list[UserLine]:
        """Every user, by username, with their source (issue 16)."""

        async def unit(tx: Transaction) -> list[UserLine]:
            sources = await self._identity_providers.sources(tx)
            return [UserLine(user, source_of(user.id, sources)) for user in await self._accounts.all(tx)]

        return await self._db.run(unit)

    async def add(self, username: str, password: str) -> User:
        """``users add``: the password is hashed before the unit of work, never stored nor shown."""
        try:
            new = await self._accounts.new_user(username.strip(), password)
            return await self._db.run(lambda tx: self._accounts.add_user(tx, new))
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def view(self, username: str) -> tuple[UserLine, ConnectedApps]:
        """The user, their source, and the apps they approved; ``NotFound`` if there is no such user."""

        async def unit(tx: Transaction) -> UserLine:
            user = await self._accounts.named(tx, username)
            return UserLine(user, source_of(user.id, await self._identity_providers.sources(tx)))

        try:
            line = await self._db.run(unit)
            return line, await self._connected_apps.apps_of(username)
        except ValueError as error:
            raise NotFound(str(error)) from None

    async def disable(self, username: str) -> None:
        await or_not_found(self._administration.disable(username))

    async def enable(self, username: str) -> None:
        await or_not_found(self._administration.enable(username))

    async def reset_password(self, username: str, password: str) -> None:
        """``users reset-password``: the new password checked and hashed, then set; the user's sessions end."""
        try:
            new = await self._accounts.new_password(password)
        except ValueError as error:
            raise InvalidRequest(str(error)) from None
        await or_not_found(self._administration.reset_password(username, new))

    async def remove(self, username: str) -> int:
        """``users remove``: the grants they gave end, then the account goes; how many grants ended."""
        return await or_not_found(self._administration.remove(username))

    async def revoke(self, username: str, client_id: str, mcp_server_id: str) -> None:
        """One of the user's connected apps revoked: consent forgotten, its grants ended."""
        await or_not_found(self._connected_apps.revoke_of(username, client_id, mcp_server_id))
