"""The MCP servers' pages' use cases (issue 17): MCP servers listed, added, changed, removed and given new
introspection credentials as ``mcp-servers list|add|update|remove|credentials`` do, their connections and the
enterprise identity providers they trust (SEP-990) as ``connections`` and ``mcp-servers trust-idp|distrust-idp`` do.
"""

from dataclasses import dataclass
from typing import TypedDict

from mcp_authz.authorization_server.admin.console.shared import find_mcp_server, form_jwks, or_invalid, or_not_found
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.flow.discovery.issuers import mcp_issuer_url
from mcp_authz.authorization_server.flow.revocation.administration import (
    DependentsExist,
    McpServerAdministration,
    Removed,
)
from mcp_authz.authorization_server.mcp_servers.entities import McpConnection, McpServer, TrustedIdentityProvider
from mcp_authz.authorization_server.mcp_servers.service import McpServerService, scope_descriptions
from mcp_authz.authorization_server.routes import INTROSPECT_PATH


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
            server = await find_mcp_server(self._mcp_servers, tx, server_id)
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

        return await or_invalid(self._db.run(unit))

    async def update(
        self, server_id: str, *, name: str, resource: str, scopes: str, default_scopes: str, descriptions: str
    ) -> McpServer:
        """``mcp-servers update`` with every field of the form: the descriptions given are all the server keeps;
        empty default scopes keep those still offered. Tokens already issued keep their audience (RFC 8707)."""

        async def unit(tx: Transaction) -> McpServer:
            await find_mcp_server(self._mcp_servers, tx, server_id)
            fields = _server_fields(resource, scopes, default_scopes, descriptions)
            return await self._mcp_servers.update(
                tx, server_id, name=name.strip() or server_id, every_description=True, **fields
            )

        return await or_invalid(self._db.run(unit))

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
            await find_mcp_server(self._mcp_servers, tx, server_id)
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

        return await or_invalid(self._db.run(unit))

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
            await find_mcp_server(self._mcp_servers, tx, server_id)
            return await self._mcp_servers.trust_identity_provider(
                tx,
                mcp_server_id=server_id,
                issuer=issuer.strip(),
                client_ids=client_ids.split(),
                jwks_uri=jwks_uri.strip() or None,
                jwks=form_jwks(jwks),
            )

        return await or_invalid(self._db.run(unit))

    async def distrust_identity_provider(self, server_id: str, issuer: str) -> None:
        """``mcp-servers distrust-idp``: its ID-JAGs are refused here; tokens issued live until they expire."""
        await or_not_found(self._db.run(lambda tx: self._mcp_servers.distrust_identity_provider(tx, server_id, issuer)))

    async def rotate_credentials(self, server_id: str) -> NewCredentials:
        """``mcp-servers credentials``: a new secret, returned once; the previous one stops working."""
        secret = await or_not_found(self._db.run(lambda tx: self._mcp_servers.rotate_secret(tx, server_id)))
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
