"""What the operator does that ends grants: removing, disabling or resetting a user, and removing an MCP server.

Issue 17. Each action ends the grants it takes away the way RFC 7009 revocation does
(:meth:`RevocationService.end_grant`: every refresh token of the family revoked, the journey
stamped ``revoked``), in the same transaction as the change itself, so no token is refreshed from
a grant whose user or MCP server is gone. The command line calls these (``cli/users.py``,
``cli/mcp_servers.py``); the admin console may too.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from mcp_authz.authorization_server.accounts.entities import User
from mcp_authz.authorization_server.accounts.service import AccountService, NewPassword
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.flow.revocation.service import RevocationService
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.maintenance.clients import ClientExpiry
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.routes import MCP_ISSUER_PATH


class UserAdministration:
    def __init__(
        self, db: Database, *, accounts: AccountService, journeys: JourneyService, revocation: RevocationService
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._journeys = journeys
        self._revocation = revocation

    async def remove(self, username: str) -> int:
        """Delete the user: every grant they gave ends, then the account goes with its sessions and consents
        (foreign keys cascade; their journeys stay, without the user). Returns how many grants were ended."""

        async def unit(tx: Transaction) -> int:
            user = await self._accounts.named(tx, username)
            ended = await self._end_grants(tx, user, "the operator removed the user")
            await self._accounts.remove(tx, user.id)
            return ended

        return await self._db.run(unit)

    async def disable(self, username: str) -> User:
        """The user can no longer sign in, and their browser sessions end; the grants they gave stand
        (revoke them on the connected apps page, or remove the user)."""
        return await self._db.run(lambda tx: self._accounts.set_disabled(tx, username, True))

    async def enable(self, username: str) -> User:
        return await self._db.run(lambda tx: self._accounts.set_disabled(tx, username, False))

    async def reset_password(self, username: str, new: NewPassword) -> User:
        """Replace the password (hashed before the unit); the user's browser sessions end."""
        return await self._db.run(lambda tx: self._accounts.set_password(tx, username, new))

    async def _end_grants(self, tx: Transaction, user: User, reason: str) -> int:
        grant_ids = await self._journeys.granted_by_user(tx, user.id)
        for grant_id in grant_ids:
            await self._revocation.end_grant(tx, grant_id, reason)
        return len(grant_ids)


@dataclass(frozen=True)
class Dependents:
    """What depends on an MCP server: clients registered at its issuer, and its journeys."""

    client_ids: tuple[str, ...]
    journeys: int

    def __bool__(self) -> bool:
        return bool(self.client_ids) or self.journeys > 0

    def describe(self) -> str:
        return f"{len(self.client_ids)} client(s) registered at its issuer and {self.journeys} journey(s)"


@dataclass(frozen=True)
class Removed:
    ended_grants: int
    deleted_clients: tuple[str, ...]


class DependentsExist(ValueError):
    """The MCP server still has dependents and the operator did not force its removal."""

    def __init__(self, server_id: str, dependents: Dependents) -> None:
        super().__init__(
            f"MCP server {server_id!r} has {dependents.describe()}; `mcp-servers remove {server_id} --force`"
            " ends their grants, deletes those clients and the server"
        )
        self.dependents = dependents


class McpServerAdministration:
    def __init__(
        self,
        db: Database,
        *,
        mcp_servers: McpServerService,
        clients: ClientService,
        journeys: JourneyService,
        revocation: RevocationService,
        client_expiry: ClientExpiry,
    ) -> None:
        self._db = db
        self._mcp_servers = mcp_servers
        self._clients = clients
        self._journeys = journeys
        self._revocation = revocation
        self._client_expiry = client_expiry

    async def remove(self, server_id: str, *, force: bool = False) -> Removed:
        """Delete an MCP server. While clients registered at its issuer or journeys for it exist, refuse
        (``DependentsExist``) unless ``force``: then every grant for it ends (RFC 7009 §2, as revocation),
        the clients bound to its issuer are deleted as RFC 7592 §2.3 deletes a client, and the server goes
        with its connections, consents and machine approvals. Its issuer's metadata answers 404 after."""

        async def unit(tx: Transaction) -> Removed:
            if await self._mcp_servers.get(tx, server_id) is None:
                raise ValueError(f"no MCP server with id {server_id!r}")
            # By the issuer's path: the command line need not be told the server's public issuer URL.
            path = MCP_ISSUER_PATH.format(mcp_server_id=server_id)
            clients = await self._clients.all(tx)
            client_ids = tuple(client.client_id for client in clients if urlsplit(client.issuer).path == path)
            dependents = Dependents(client_ids, await self._journeys.count_at_server(tx, server_id))
            if dependents and not force:
                raise DependentsExist(server_id, dependents)
            reason = "the operator removed the MCP server"
            grant_ids = set(await self._journeys.granted_at_server(tx, server_id))
            for client_id in client_ids:
                grant_ids |= set(await self._journeys.granted_to_client(tx, client_id))
            for grant_id in sorted(grant_ids):
                await self._revocation.end_grant(tx, grant_id, reason)
            if client_ids:
                await self._client_expiry.delete(tx, list(client_ids))
            await self._mcp_servers.remove(tx, server_id)
            return Removed(len(grant_ids), client_ids)

        return await self._db.run(unit)
