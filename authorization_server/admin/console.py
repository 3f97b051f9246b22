"""The operator's console (issue 17): what the admin pages do to clients and MCP servers, through the command
line's services.

Each action is the one ``clients block|unblock|add|approve|withdraw|allow-id-jag|withdraw-id-jag`` runs
(``cli/clients.py``): blocking through ``ClientManagementService`` (docs/decisions/0025), adding a client and
its client_credentials approvals, approving and withdrawing (its machine grant ended) through
``OperatorRegistration`` (RFC 7591 §1, OAuth 2.1 §4.2, docs/decisions/0018), the ID-JAG audiences through
``ClientService`` (SEP-990). Deleting a client ends its grants and deletes
its rows as its own RFC 7592 §2.3 deletion does. Each is one unit of work; a mistake is an
``OAuthError`` the page shows (``InvalidRequest``, ``NotFound``), never a 500. MCP servers are
listed, added, changed, removed and given new introspection credentials as ``mcp-servers
list|add|update|remove|credentials`` do, users as ``users list|add|disable|enable|reset-password|remove``
do (``UserAdministration``); a user's connected apps are revoked as the user's own page does.
Identity providers are listed, added (checked by discovery through the SSRF-safe fetcher first) and
removed as ``identity-providers list|add|remove`` do (``IdentityProviderService``, issue 16); workload
issuers as ``workload-issuers list|add|remove`` do (``WorkloadIssuerService``, SEP-1933, docs/decisions/0051).
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict, TypeVar

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.account.connected_apps import ConnectedApps, ConnectedAppsService
from mcp_authz.authorization_server.accounts.entities import User
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.admin.timelines import Timeline, Timelines
from mcp_authz.authorization_server.clients.assertions import parse_jwks
from mcp_authz.authorization_server.clients.entities import Client, IdJagAudience, MachineApproval
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.flow.authorization.openid import OpenIdProviders, check_provider
from mcp_authz.authorization_server.flow.discovery.issuers import mcp_issuer_url
from mcp_authz.authorization_server.flow.registration.management import ClientManagementService
from mcp_authz.authorization_server.flow.registration.operator import AddedClient, NewClient, OperatorRegistration
from mcp_authz.authorization_server.flow.revocation.administration import (
    DependentsExist,
    McpServerAdministration,
    Removed,
    UserAdministration,
)
from mcp_authz.authorization_server.flow.revocation.service import RevocationService
from mcp_authz.authorization_server.identity_providers.entities import IdentityProvider
from mcp_authz.authorization_server.identity_providers.service import (
    IdentityProviderService,
    parse_claim_rules,
    parse_domains,
    source_of,
)
from mcp_authz.authorization_server.journeys.entities import JourneySearch
from mcp_authz.authorization_server.maintenance.clients import ClientExpiry
from mcp_authz.authorization_server.mcp_servers.entities import McpConnection, McpServer, TrustedIdentityProvider
from mcp_authz.authorization_server.mcp_servers.service import McpServerService, scope_descriptions
from mcp_authz.authorization_server.routes import INTROSPECT_PATH
from mcp_authz.authorization_server.tokens.keys import Keys
from mcp_authz.authorization_server.workload_issuers.entities import WorkloadIssuer
from mcp_authz.authorization_server.workload_issuers.service import WorkloadIssuerService, parse_rule
from mcp_authz.shared.scopes import parse_scope

T = TypeVar("T")


async def _or_not_found(action: Awaitable[T]) -> T:
    """Run an action on something named; the ``ValueError`` of a name that does not exist is ``NotFound``."""
    try:
        return await action
    except ValueError as error:
        raise NotFound(str(error)) from None


async def _or_invalid(action: Awaitable[T]) -> T:
    """Run an action on the operator's input; the ``ValueError`` that says what is wrong is ``InvalidRequest``."""
    try:
        return await action
    except ValueError as error:
        raise InvalidRequest(str(error)) from None


def _jwks(text: str) -> dict[str, Any] | None:
    """A JWK Set pasted into a form (``--jwks-file``'s content), checked: public signing keys only (RFC 7517 §5);
    ``None`` if the field is empty. ``ValueError`` says what is wrong."""
    if not text.strip():
        return None
    try:
        return parse_jwks(json.loads(text))
    except ValueError as error:
        raise ValueError(f"the JWK Set: {error}") from None


async def _mcp_server(mcp_servers: McpServerService, tx: Transaction, server_id: str) -> McpServer:
    """The MCP server ``server_id`` names; ``NotFound`` if there is none."""
    server = await mcp_servers.get(tx, server_id)
    if server is None:
        raise NotFound(f"no MCP server with id {server_id!r}")
    return server


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
        return await _or_invalid(self._operator_registration.add(new))

    async def block(self, client_id: str) -> int:
        """``clients block``: refused everywhere, every grant ended (docs/decisions/0025); how many were ended."""
        return await _or_not_found(self._management.block(client_id))

    async def unblock(self, client_id: str) -> None:
        await _or_not_found(self._management.unblock(client_id))

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
            await _mcp_server(self._mcp_servers, tx, mcp_server_id)

        await self._db.run(unit)  # NotFound (404) for an unknown client or MCP server; the rest is the operator's input
        named = f"{mcp_server_id}:{','.join(scope.replace(',', ' ').split())}" if scope.strip() else mcp_server_id
        [approved] = await _or_invalid(self._operator_registration.approve(client_id, [named]))
        return approved

    async def withdraw(self, client_id: str, mcp_server_id: str) -> int:
        """``clients withdraw``: the approval goes, and the machine grant it allowed ends; how many grants ended."""

        _, ended = await _or_not_found(self._operator_registration.withdraw(client_id, [mcp_server_id]))
        return ended

    async def allow_id_jag(self, client_id: str, audience: str, audience_client_id: str) -> IdJagAudience:
        """``clients allow-id-jag``: this server as an enterprise IdP issues the client ID-JAGs for the authorization
        server ``audience`` (SEP-990, docs/decisions/0049); only a confidential client added here may."""

        async def unit(tx: Transaction) -> IdJagAudience:
            client = await self._client(tx, client_id)
            return await self._clients.allow_id_jag(tx, client, audience.strip(), audience_client_id.strip())

        return await _or_invalid(self._db.run(unit))

    async def withdraw_id_jag(self, client_id: str, audience: str) -> None:
        """``clients withdraw-id-jag``: no more ID-JAGs for ``audience``; those issued expire within minutes."""
        await _or_not_found(self._db.run(lambda tx: self._clients.withdraw_id_jag(tx, client_id, audience)))

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


@dataclass(frozen=True)
class NewCredentials:
    """An MCP server's new introspection credentials (RFC 7662 §2.1), shown to the operator once."""

    mcp_server_id: str
    secret: str
    introspection_endpoint: str


@dataclass(frozen=True)
class McpServerView:
    """One MCP server as its console page shows it: its issuer and its MCP connections (downstream providers)."""

    server: McpServer
    issuer: str
    connections: tuple[McpConnection, ...]
    #: The enterprise identity providers whose ID-JAGs its issuer accepts (SEP-990, decision 0049).
    identity_providers: tuple[TrustedIdentityProvider, ...] = ()


@dataclass(frozen=True)
class ConnectionFields:
    """The console's form for a new MCP connection, as typed (``connections add``'s options); empty is absent."""

    name: str
    client_id: str
    scopes: str = ""
    issuer: str = ""
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    client_secret_env: str = ""
    resource: str = ""


class McpServerConsole:
    """``mcp-servers list|add|update|remove|credentials`` for the console, through ``McpServerService`` and
    ``McpServerAdministration``; ``connections list`` for one server."""

    def __init__(
        self,
        db: Database,
        *,
        root_issuer: str,
        mcp_servers: McpServerService,
        administration: McpServerAdministration,
    ) -> None:
        self._db = db
        self._root = root_issuer
        self._mcp_servers = mcp_servers
        self._administration = administration

    async def list(self) -> list[McpServer]:
        servers = await self._db.run(self._mcp_servers.all)
        return sorted(servers, key=lambda server: server.id)

    def issuer_of(self, server: McpServer) -> str:
        return mcp_issuer_url(self._root, server.id)

    async def view(self, server_id: str) -> McpServerView:
        async def unit(tx: Transaction) -> McpServerView:
            server = await _mcp_server(self._mcp_servers, tx, server_id)
            connections = await self._mcp_servers.connections(tx, server.id)
            idps = await self._mcp_servers.trusted_identity_providers(tx, server.id)
            return McpServerView(server, self.issuer_of(server), tuple(connections), tuple(idps))

        return await self._db.run(unit)

    async def add(
        self,
        *,
        server_id: str,
        name: str,
        resource: str,
        scopes: str,
        default_scopes: str,
        descriptions: str = "",
        version: str = "latest",
    ) -> McpServer:
        """``mcp-servers add``: the resource (RFC 8707 §2, canonical), its scopes and default scopes (RFC 6749 §3.3),
        what each scope lets a client do (``descriptions``: a ``SCOPE=TEXT`` line each), the version its registration
        endpoint's path advertises."""

        async def unit(tx: Transaction) -> McpServer:
            fields = _server_fields(resource, scopes, default_scopes, descriptions)
            return await self._mcp_servers.add(
                tx, server_id=server_id.strip(), name=name.strip() or None, version=version.strip(), **fields
            )

        return await _or_invalid(self._db.run(unit))

    async def update(
        self, server_id: str, *, name: str, resource: str, scopes: str, default_scopes: str, descriptions: str
    ) -> McpServer:
        """``mcp-servers update`` with every field of the form: the descriptions given are all the server keeps;
        empty default scopes keep those still offered. Tokens already issued keep their audience (RFC 8707)."""

        async def unit(tx: Transaction) -> McpServer:
            await _mcp_server(self._mcp_servers, tx, server_id)
            fields = _server_fields(resource, scopes, default_scopes, descriptions)
            return await self._mcp_servers.update(
                tx, server_id, name=name.strip() or server_id, every_description=True, **fields
            )

        return await _or_invalid(self._db.run(unit))

    async def remove(self, server_id: str, *, force: bool) -> Removed:
        """``mcp-servers remove [--force]``: refused while clients or journeys depend on it, unless ``force``."""
        try:
            return await self._administration.remove(server_id, force=force)
        except DependentsExist as refused:
            raise InvalidRequest(
                f"MCP server {server_id!r} has {refused.dependents.describe()}. To remove it anyway, tick"
                " 'also end their grants and delete those clients'."
            ) from None
        except ValueError as error:
            raise NotFound(str(error)) from None

    async def add_connection(self, server_id: str, fields: ConnectionFields) -> McpConnection:
        """``connections add``: a downstream provider the server's tools need, by its issuer (RFC 8414) or its two
        endpoints; its client secret stays in the server's environment, only the variable's name is stored."""

        async def unit(tx: Transaction) -> McpConnection:
            await _mcp_server(self._mcp_servers, tx, server_id)
            return await self._mcp_servers.add_connection(
                tx,
                mcp_server_id=server_id,
                name=fields.name.strip(),
                client_id=fields.client_id.strip(),
                scopes=fields.scopes,
                issuer=fields.issuer.strip() or None,
                authorization_endpoint=fields.authorization_endpoint.strip() or None,
                token_endpoint=fields.token_endpoint.strip() or None,
                client_secret_env=fields.client_secret_env.strip() or None,
                resource=fields.resource.strip() or None,
            )

        return await _or_invalid(self._db.run(unit))

    async def remove_connection(self, server_id: str, connection_id: str) -> None:
        """``connections remove``: the connection and its downstream flows go; only one of this server's."""

        async def unit(tx: Transaction) -> None:
            connection = await self._mcp_servers.connection(tx, connection_id)
            if connection is None or connection.mcp_server_id != server_id:
                raise NotFound(f"MCP server {server_id!r} has no connection {connection_id!r}")
            await self._mcp_servers.remove_connection(tx, connection_id)

        await self._db.run(unit)

    async def trust_identity_provider(
        self, server_id: str, *, issuer: str, jwks_uri: str, jwks: str, client_ids: str
    ) -> TrustedIdentityProvider:
        """``mcp-servers trust-idp``: the server's issuer accepts ``issuer``'s ID-JAGs (SEP-990, RFC 7523 jwt-bearer)
        from the clients named, its keys at ``jwks_uri`` or given as a JWK Set; trusting it again replaces them."""

        async def unit(tx: Transaction) -> TrustedIdentityProvider:
            await _mcp_server(self._mcp_servers, tx, server_id)
            return await self._mcp_servers.trust_identity_provider(
                tx,
                mcp_server_id=server_id,
                issuer=issuer.strip(),
                client_ids=client_ids.split(),
                jwks_uri=jwks_uri.strip() or None,
                jwks=_jwks(jwks),
            )

        return await _or_invalid(self._db.run(unit))

    async def distrust_identity_provider(self, server_id: str, issuer: str) -> None:
        """``mcp-servers distrust-idp``: its ID-JAGs are refused here; tokens issued live until they expire."""
        await _or_not_found(
            self._db.run(lambda tx: self._mcp_servers.distrust_identity_provider(tx, server_id, issuer))
        )

    async def rotate_credentials(self, server_id: str) -> NewCredentials:
        """``mcp-servers credentials``: a new secret, returned once; the previous one stops working."""
        secret = await _or_not_found(self._db.run(lambda tx: self._mcp_servers.rotate_secret(tx, server_id)))
        return NewCredentials(server_id, secret, mcp_issuer_url(self._root, server_id) + INTROSPECT_PATH)


class _ServerFields(TypedDict):
    resource: str
    scopes: str
    default_scopes: str | None
    scope_descriptions: dict[str, str]


def _server_fields(resource: str, scopes: str, default_scopes: str, descriptions: str) -> _ServerFields:
    """The MCP server form's resource, scopes, default scopes (empty: none given) and scope descriptions, as
    ``McpServerService.add`` and ``update`` take them."""
    return {
        "resource": resource.strip(),
        "scopes": scopes,
        "default_scopes": default_scopes if default_scopes.strip() else None,
        "scope_descriptions": _described(descriptions),
    }


def _described(lines: str) -> dict[str, str]:
    """The form's ``SCOPE=TEXT`` lines, blank ones left out; ``ValueError`` names a line without ``=``."""
    return scope_descriptions(line for line in lines.splitlines() if line.strip())


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
        await _or_not_found(self._administration.disable(username))

    async def enable(self, username: str) -> None:
        await _or_not_found(self._administration.enable(username))

    async def reset_password(self, username: str, password: str) -> None:
        """``users reset-password``: the new password checked and hashed, then set; the user's sessions end."""
        try:
            new = await self._accounts.new_password(password)
        except ValueError as error:
            raise InvalidRequest(str(error)) from None
        await _or_not_found(self._administration.reset_password(username, new))

    async def remove(self, username: str) -> int:
        """``users remove``: the grants they gave end, then the account goes; how many grants ended."""
        return await _or_not_found(self._administration.remove(username))

    async def revoke(self, username: str, client_id: str, mcp_server_id: str) -> None:
        """One of the user's connected apps revoked: consent forgotten, its grants ended."""
        await _or_not_found(self._connected_apps.revoke_of(username, client_id, mcp_server_id))


class JourneyConsole:
    """The journeys page's filters (issue 17): a username named by the operator is looked up in ``accounts/``."""

    def __init__(self, db: Database, *, accounts: AccountService, timelines: Timelines) -> None:
        self._db = db
        self._accounts = accounts
        self._timelines = timelines

    async def search(self, wanted: JourneySearch, username: str | None) -> list[Timeline]:
        """The page of journeys ``wanted`` names, of the user ``username`` if given (none if no such user)."""
        if username:
            stored = await self._db.run(lambda tx: self._accounts.stored_password(tx, username))
            if stored is None:
                return []
            wanted = replace(wanted, user_id=stored.user.id)
        return await self._timelines.search(wanted)


@dataclass(frozen=True)
class KeyLine:
    """A signing key as the console lists it (``keys list``)."""

    kid: str
    alg: str
    created_at: datetime
    #: ``next, signs from …``, ``current``, ``published until …`` or ``retired``.
    state: str


class KeyConsole:
    """``keys list|rotate`` for the console (RFC 7517 JWK Set, docs/decisions/0027), through the server's ``Keys``."""

    def __init__(self, db: Database, *, keys: Keys, alg: str) -> None:
        self._db = db
        self._keys = keys
        self._alg = alg

    async def list(self) -> list[KeyLine]:
        stored = await self._db.run(self._keys.listed)
        now = clock.now()
        return [KeyLine(key.kid, key.alg, key.created_at, key.state(now)) for key in reversed(stored)]

    async def rotate(self) -> str:
        """A new key, published at once, signing after the activation delay (issue 13); the previous one stays
        published. Its ``kid``."""
        key = await self._db.run(lambda tx: self._keys.rotate(tx, self._alg))
        return key.kid


@dataclass(frozen=True)
class ProviderLine:
    """An identity provider as the console lists it (``identity-providers list``)."""

    provider: IdentityProvider
    #: How many users sign in through it: while any do, it cannot be removed.
    users: int
    #: The redirect URI registered at the provider, its own per provider (RFC 9700 §4.4.2).
    redirect_uri: str


@dataclass(frozen=True)
class ProviderFields:
    """The console's "add an identity provider" form, as typed (``identity-providers add``'s options)."""

    name: str = ""
    issuer: str = ""
    client_id: str = ""
    auth_method: str = "client_secret_basic"
    client_secret_env: str = ""
    scopes: str = "openid email profile"
    allowed_domains: str = ""
    claim_rules: str = ""
    display_name: str = ""
    allow_private_network: bool = False


class IdentityProviderConsole:
    """``identity-providers list|add|remove`` for the console (issue 16), through ``IdentityProviderService``: a new
    provider is checked by discovery (OIDC Discovery §4) through the SSRF-safe fetcher, as sign-ins fetch it,
    before anything is stored."""

    def __init__(
        self,
        db: Database,
        *,
        identity_providers: IdentityProviderService,
        openid: OpenIdProviders,
        redirect_uri: Callable[[IdentityProvider], str],
    ) -> None:
        self._db = db
        self._identity_providers = identity_providers
        self._openid = openid
        self._redirect_uri = redirect_uri

    async def list(self) -> list[ProviderLine]:
        async def unit(tx: Transaction) -> list[ProviderLine]:
            counts = await self._identity_providers.user_counts(tx)
            providers = await self._identity_providers.all(tx)
            return [ProviderLine(found, counts.get(found.id, 0), self._redirect_uri(found)) for found in providers]

        return await self._db.run(unit)

    async def add(self, fields: ProviderFields) -> IdentityProvider:
        """``identity-providers add``: checked, discovered, then stored in one unit of work; ``InvalidRequest``
        says what is wrong, and then nothing was written."""
        service = self._identity_providers
        try:
            provider = service.new_provider(
                name=fields.name.strip(),
                issuer=fields.issuer.strip(),
                client_id=fields.client_id.strip(),
                auth_method=fields.auth_method,
                client_secret_env=fields.client_secret_env.strip() or None,
                scopes=parse_scope(fields.scopes),
                allowed_domains=parse_domains(fields.allowed_domains),
                claim_rules=parse_claim_rules(fields.claim_rules),
                allow_private_network=fields.allow_private_network,
                display_name=fields.display_name,
            )
            if not provider.client_id:
                raise ValueError("the client id this server has at the provider is needed")
            await check_provider(self._openid, provider)
            return await self._db.run(lambda tx: service.add(tx, provider))
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def added(self, name: str) -> tuple[ProviderLine, str | None]:
        """A provider just added: its line, and for ``private_key_jwt`` the public JWK to register there."""
        line = next((line for line in await self.list() if line.provider.name == name), None)
        if line is None:
            raise NotFound(f"no identity provider named {name!r}")
        if line.provider.auth_method != "private_key_jwt":
            return line, None
        try:
            return line, json.dumps(self._identity_providers.public_jwk(line.provider))
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def remove(self, name: str) -> None:
        """``identity-providers remove``: refused while users sign in through it; ``NotFound`` if there is none."""
        service = self._identity_providers

        async def unit(tx: Transaction) -> None:
            if await service.find(tx, name) is None:
                raise NotFound(f"no identity provider named {name!r}")
            await service.remove(tx, name)

        await _or_invalid(self._db.run(unit))


@dataclass(frozen=True)
class WorkloadIssuerFields:
    """The console's "trust a workload issuer" form, as typed (``workload-issuers add``'s options); empty is absent."""

    name: str = ""
    issuer: str = ""
    jwks_uri: str = ""
    #: A public JWK Set as JSON (``--jwks-file``'s content).
    jwks: str = ""
    #: Extra ``aud`` values, space-separated (``--audience``, repeated).
    audiences: str = ""
    #: One ``--rule`` a line.
    rules: str = ""


class WorkloadIssuerConsole:
    """``workload-issuers list|add|remove`` for the console (SEP-1933, a draft; docs/decisions/0051), through
    ``WorkloadIssuerService``, which checks each rule's MCP server and scopes."""

    def __init__(self, db: Database, *, workload_issuers: WorkloadIssuerService) -> None:
        self._db = db
        self._workload_issuers = workload_issuers

    async def list(self) -> list[WorkloadIssuer]:
        return await self._db.run(self._workload_issuers.all)

    async def add(self, fields: WorkloadIssuerFields) -> WorkloadIssuer:
        """``workload-issuers add``: the rules parsed, the JWK Set checked (RFC 7517 §5, public keys only), then
        stored in one unit of work; ``InvalidRequest`` says what is wrong, and then nothing was written."""
        service = self._workload_issuers
        try:
            rules = [parse_rule(line.strip()) for line in fields.rules.splitlines() if line.strip()]
            jwks = _jwks(fields.jwks)
            return await self._db.run(
                lambda tx: service.add(
                    tx,
                    name=fields.name.strip(),
                    issuer=fields.issuer.strip(),
                    rules=rules,
                    audiences=fields.audiences.split(),
                    jwks_uri=fields.jwks_uri.strip() or None,
                    jwks=jwks,
                )
            )
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def remove(self, name: str) -> None:
        """``workload-issuers remove``: its JWTs are refused from now on; tokens already issued live until they
        expire. ``NotFound`` if there is none."""
        await _or_not_found(self._db.run(lambda tx: self._workload_issuers.remove(tx, name)))
