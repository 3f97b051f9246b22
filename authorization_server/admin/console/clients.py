"""The clients page's use cases (issue 17): list, view, add, block, unblock, delete, approve, withdraw,
allow and withdraw ID-JAGs, as ``clients block|unblock|add|approve|withdraw|allow-id-jag|withdraw-id-jag`` do
(``cli/clients.py``): blocking through ``ClientManagementService`` (docs/decisions/0025), adding a client and
its client_credentials approvals, approving and withdrawing (its machine grant ended) through
``OperatorRegistration`` (RFC 7591 §1, OAuth 2.1 §4.2, docs/decisions/0018), the ID-JAG audiences through
``ClientService`` (SEP-990). Deleting a client ends its grants and deletes its rows as its own RFC 7592 §2.3
deletion does. Each is one unit of work; a mistake is an ``OAuthError`` the page shows (``InvalidRequest``,
``NotFound``), never a 500.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mcp_authz.authorization_server.admin.console.shared import find_mcp_server, or_invalid, or_not_found
from mcp_authz.authorization_server.clients.entities import Client, IdJagAudience, MachineApproval
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.flow.discovery.issuers import mcp_issuer_url
from mcp_authz.authorization_server.flow.registration.management import ClientManagementService
from mcp_authz.authorization_server.flow.registration.operator import AddedClient, NewClient, OperatorRegistration
from mcp_authz.authorization_server.flow.revocation.service import RevocationService
from mcp_authz.authorization_server.maintenance.clients import ClientExpiry
from mcp_authz.authorization_server.mcp_servers.entities import McpServer
from mcp_authz.authorization_server.mcp_servers.service import McpServerService


class ClientKind(StrEnum):
    """How a client came to be known (the console's filter)."""

    #: Registered itself (RFC 7591 §3), at the root or an MCP server's registration endpoint.
    DYNAMIC = "dynamic"
    #: Known by its client ID metadata document: the ``client_id`` is the document's URL (CIMD §3).
    METADATA_DOCUMENT = "metadata document"
    #: Registered by the operator with the client_credentials grant, which self-registration refuses
    #: (``clients add --grant client_credentials``, docs/decisions/0018).
    PRE_REGISTERED = "pre-registered"
    #: A workload known by its platform's JWT, recorded on its first grant (SEP-1933, docs/decisions/0051).
    WORKLOAD = "workload"


def kind_of(client: Client) -> ClientKind:
    if client.is_workload:
        return ClientKind.WORKLOAD
    if client.from_metadata_document:
        return ClientKind.METADATA_DOCUMENT
    if "client_credentials" in client.grant_types:
        return ClientKind.PRE_REGISTERED
    return ClientKind.DYNAMIC


@dataclass(frozen=True)
class ClientFilter:
    """What the list shows: every field ``None`` (or ``False``) shows every client."""

    kind: ClientKind | None = None
    #: Only the clients blocked (``True``) or not blocked (``False``).
    blocked: bool | None = None
    #: Only the clients last used before this moment (idle ones).
    used_before: datetime | None = None
    #: Only the clients last used at or after this moment.
    used_since: datetime | None = None

    def admits(self, client: Client) -> bool:
        return (
            (self.kind is None or kind_of(client) is self.kind)
            and (self.blocked is None or client.blocked is self.blocked)
            and (self.used_before is None or client.last_used_at < self.used_before)
            and (self.used_since is None or client.last_used_at >= self.used_since)
        )


@dataclass(frozen=True)
class ClientLine:
    client: Client
    kind: ClientKind
    approvals: tuple[MachineApproval, ...]


@dataclass(frozen=True)
class ClientView:
    line: ClientLine
    #: The MCP servers whose tokens this client may ask for: its issuer's, or every one at the root issuer.
    servers: tuple[McpServer, ...]
    #: The other authorization servers it may get ID-JAGs for from this one as its IdP (SEP-990, decision 0049).
    id_jag_audiences: tuple[IdJagAudience, ...] = ()

    @property
    def may_get_id_jags(self) -> bool:
        """Only a confidential client added here may (``ClientService.allow_id_jag``)."""
        client = self.line.client
        return not (client.is_public or client.from_metadata_document)


@dataclass(frozen=True)
class NewClientFields:
    """The console's "add a client" form, as typed (``clients add``'s options); empty is absent."""

    name: str = ""
    #: ``authorization_code`` and/or ``client_credentials`` (its checkboxes).
    grants: tuple[str, ...] = ()
    #: One redirect URI a line.
    redirect_uris: str = ""
    #: ``ID`` or ``ID:SCOPE,SCOPE``, space-separated.
    mcp_servers: str = ""
    auth_method: str = "client_secret_basic"
    #: Its public JWK Set as JSON (``--jwks-file``'s content), for ``private_key_jwt``.
    jwks: str = ""
    jwks_uri: str = ""


class ClientConsole:
    def __init__(
        self,
        db: Database,
        *,
        root_issuer: str,
        clients: ClientService,
        mcp_servers: McpServerService,
        revocation: RevocationService,
        management: ClientManagementService,
        expiry: ClientExpiry,
        operator_registration: OperatorRegistration,
    ) -> None:
        self._db = db
        self._operator_registration = operator_registration
        self._root = root_issuer
        self._clients = clients
        self._mcp_servers = mcp_servers
        self._revocation = revocation
        self._management = management
        self._expiry = expiry

    async def list(self, wanted: ClientFilter) -> list[ClientLine]:
        """The clients ``wanted`` admits, most recently used first, with their machine approvals."""

        async def unit(tx: Transaction) -> list[ClientLine]:
            chosen = [client for client in await self._clients.all(tx) if wanted.admits(client)]
            chosen.sort(key=lambda client: (client.last_used_at, client.created_at), reverse=True)
            return [await self._line(tx, client) for client in chosen]

        return await self._db.run(unit)

    async def view(self, client_id: str) -> ClientView:
        async def unit(tx: Transaction) -> ClientView:
            client = await self._client(tx, client_id)
            servers = [server for server in await self._mcp_servers.all(tx) if self._serves(client, server)]
            audiences = await self._clients.id_jag_audiences(tx, client.client_id)
            return ClientView(
                await self._line(tx, client), tuple(sorted(servers, key=lambda server: server.id)), tuple(audiences)
            )

        return await self._db.run(unit)

    async def add(self, fields: NewClientFields) -> AddedClient:
        """``clients add``: a confidential client pre-registered (RFC 7591 §1), with the client_credentials approval
        of each MCP server named (OAuth 2.1 §4.2, docs/decisions/0018); its secret is in the answer, once.
        ``InvalidRequest`` says what is wrong, and then nothing was written."""
        try:
            jwks = json.loads(fields.jwks) if fields.jwks.strip() else None
        except ValueError as error:
            raise InvalidRequest(f"the JWK Set is not JSON: {error}") from None
        new = NewClient(
            name=fields.name.strip(),
            redirect_uris=[line.strip() for line in fields.redirect_uris.splitlines() if line.strip()],
            grants=fields.grants,
            mcp_servers=fields.mcp_servers.split(),
            auth_method=fields.auth_method,
            jwks=jwks,
            jwks_uri=fields.jwks_uri.strip() or None,
        )
        return await or_invalid(self._operator_registration.add(new))

    async def block(self, client_id: str) -> int:
        """``clients block``: refused everywhere, every grant ended (docs/decisions/0025); how many were ended."""
        return await or_not_found(self._management.block(client_id))

    async def unblock(self, client_id: str) -> None:
        await or_not_found(self._management.unblock(client_id))

    async def delete(self, client_id: str) -> int:
        """The operator deletes a client: its grants ended, then its rows deleted, as RFC 7592 §2.3 does."""

        async def unit(tx: Transaction) -> int:
            client = await self._client(tx, client_id)
            ended = await self._revocation.end_client_grants(tx, client.client_id, "the operator deleted the client")
            await self._expiry.delete(tx, [client.client_id])
            return ended

        return await self._db.run(unit)

    async def approve(self, client_id: str, mcp_server_id: str, scope: str) -> MachineApproval:
        """``clients approve``: the client may use client_credentials at the MCP server (OAuth 2.1 §4.2).

        ``scope`` empty means the server's default scopes; every scope must be one the server offers,
        and the client's issuer must issue tokens for that server (docs/decisions/0018).
        """

        async def unit(tx: Transaction) -> None:
            await self._client(tx, client_id)
            await find_mcp_server(self._mcp_servers, tx, mcp_server_id)

        await self._db.run(unit)  # NotFound (404) for an unknown client or MCP server; the rest is the operator's input
        named = f"{mcp_server_id}:{','.join(scope.replace(',', ' ').split())}" if scope.strip() else mcp_server_id
        [approved] = await or_invalid(self._operator_registration.approve(client_id, [named]))
        return approved

    async def withdraw(self, client_id: str, mcp_server_id: str) -> int:
        """``clients withdraw``: the approval goes, and the machine grant it allowed ends; how many grants ended."""

        _, ended = await or_not_found(self._operator_registration.withdraw(client_id, [mcp_server_id]))
        return ended

    async def allow_id_jag(self, client_id: str, audience: str, audience_client_id: str) -> IdJagAudience:
        """``clients allow-id-jag``: this server as an enterprise IdP issues the client ID-JAGs for the authorization
        server ``audience`` (SEP-990, docs/decisions/0049); only a confidential client added here may."""

        async def unit(tx: Transaction) -> IdJagAudience:
            client = await self._client(tx, client_id)
            return await self._clients.allow_id_jag(tx, client, audience.strip(), audience_client_id.strip())

        return await or_invalid(self._db.run(unit))

    async def withdraw_id_jag(self, client_id: str, audience: str) -> None:
        """``clients withdraw-id-jag``: no more ID-JAGs for ``audience``; those issued expire within minutes."""
        await or_not_found(self._db.run(lambda tx: self._clients.withdraw_id_jag(tx, client_id, audience)))

    async def _client(self, tx: Transaction, client_id: str) -> Client:
        client = await self._clients.get(tx, client_id)
        if client is None:
            raise NotFound(f"no client with id {client_id!r}")
        return client

    async def _line(self, tx: Transaction, client: Client) -> ClientLine:
        approvals = tuple(await self._clients.machine_approvals(tx, client.client_id))
        return ClientLine(client, kind_of(client), approvals)

    def _serves(self, client: Client, server: McpServer) -> bool:
        return client.issuer in (self._root, mcp_issuer_url(self._root, server.id))
