"""The MCP servers this authorization server knows, kept in memory and in step with the database,
and the MCP connections (downstream OAuth providers) each of them has."""

import re
from datetime import datetime
from urllib.parse import urlsplit

from authorization_server import clock
from authorization_server.db import Database, Transaction
from authorization_server.errors import InvalidClient
from authorization_server.mcp_servers import repository
from authorization_server.mcp_servers.entities import ID_PATTERN, McpConnection, McpServer, is_version
from authorization_server.secrets_at_rest import digest, matches, new_id, new_secret
from shared.loopback import is_https_or_loopback_http
from shared.resource import canonical_resource
from shared.scopes import parse_scope

#: A POSIX environment variable name: where a downstream client secret is read from.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class McpServerService:
    """Lookups by id and by resource, answered from memory.

    MCP servers change rarely and mostly from the command line, in another process. The cache
    asks SQLite whether anything was committed since it loaded (``PRAGMA data_version``) at most
    once a second, and at once when a lookup misses: a server just added is found immediately, a
    changed one within a second.
    """

    CHECK_INTERVAL = 1.0

    def __init__(self, db: Database) -> None:
        self._db = db
        self._by_id: dict[str, McpServer] = {}
        self._by_resource: dict[str, McpServer] = {}
        self._data_version: int | None = None
        self._checked_at = 0.0

    async def get(self, server_id: str) -> McpServer | None:
        await self._follow_database()
        if server_id not in self._by_id:
            await self._follow_database(now=True)
        return self._by_id.get(server_id)

    async def by_resource(self, resource: str) -> McpServer | None:
        """The server whose resource URI is ``resource`` (scheme and host compared case-insensitively)."""
        try:
            key = canonical_resource(resource)
        except ValueError:
            return None
        await self._follow_database()
        if key not in self._by_resource:
            await self._follow_database(now=True)
        return self._by_resource.get(key)

    async def all(self) -> list[McpServer]:
        await self._follow_database()
        return list(self._by_id.values())

    async def add(
        self,
        *,
        server_id: str,
        resource: str,
        scopes: str,
        name: str | None = None,
        default_scopes: str | None = None,
        version: str = "latest",
    ) -> McpServer:
        """Register an MCP server; ``ValueError`` says what is wrong with the values."""
        server = _new_server(server_id, resource, scopes, name, default_scopes, version, clock.now())

        async def unit(tx: Transaction) -> None:
            clash = await repository.find_by_id_or_resource(tx, server.id, server.resource)
            if clash is not None:
                raise ValueError(f"MCP server {clash.id!r} already has that id or resource ({clash.resource})")
            await repository.add(tx, server)

        await self._db.run(unit)
        self._data_version = None
        return server

    async def rotate_secret(self, server_id: str) -> str:
        """Give the server a new introspection secret, returned once; the previous one stops working."""
        secret = new_secret()
        if not await self._db.run(lambda tx: repository.set_secret_hash(tx, server_id, digest(secret))):
            raise ValueError(f"no MCP server with id {server_id!r}")
        self._data_version = None
        return secret

    async def authenticate(self, server_id: str, secret: str | None) -> McpServer:
        """The MCP server, if ``secret`` is its introspection secret (RFC 7662 §2.1); else ``InvalidClient``.

        A secret just set from the command line is seen at once: a mismatch re-reads the database.
        """
        server = await self.get(server_id)
        if server is not None and not _secret_matches(server, secret):
            await self._follow_database(now=True)
            server = self._by_id.get(server_id)
        if server is None or not _secret_matches(server, secret):
            raise InvalidClient("resource server authentication failed", detail=f"MCP server {server_id!r}")
        return server

    async def add_connection(
        self,
        *,
        mcp_server_id: str,
        name: str,
        client_id: str,
        scopes: str,
        issuer: str | None = None,
        authorization_endpoint: str | None = None,
        token_endpoint: str | None = None,
        client_secret_env: str | None = None,
        resource: str | None = None,
    ) -> McpConnection:
        """Give an MCP server a connection to a downstream provider; ``ValueError`` says what is wrong."""
        connection = _new_connection(
            mcp_server_id,
            name,
            client_id,
            scopes,
            issuer,
            authorization_endpoint,
            token_endpoint,
            client_secret_env,
            resource,
            clock.now(),
        )

        async def unit(tx: Transaction) -> McpConnection:
            if await self.get(mcp_server_id) is None:
                raise ValueError(f"no MCP server with id {mcp_server_id!r}")
            if await repository.connection_by_name(tx, mcp_server_id, name) is not None:
                raise ValueError(f"MCP server {mcp_server_id!r} already has a connection named {name!r}")
            await repository.add_connection(tx, connection)
            return connection

        return await self._db.run(unit)

    async def connections(self, mcp_server_id: str | None = None) -> list[McpConnection]:
        """Every MCP connection, or those of one MCP server."""
        return await self._db.run(lambda tx: repository.connections(tx, mcp_server_id))

    async def connection(self, connection_id: str) -> McpConnection | None:
        return await self._db.run(lambda tx: repository.connection(tx, connection_id))

    async def connection_named(self, mcp_server_id: str, name_or_id: str) -> McpConnection:
        """The connection an MCP server names by its name or id (RFC 8693 ``audience``); ``LookupError`` says why.

        A connection of another MCP server is refused with the reason (the rule of seed 000).
        """
        found = await self._db.run(lambda tx: repository.connection_by_name_or_id(tx, name_or_id))
        own = [connection for connection in found if connection.mcp_server_id == mcp_server_id]
        if own:
            return own[0]
        if found:
            raise LookupError(
                f"MCP connection {name_or_id!r} belongs to MCP server {found[0].mcp_server_id!r},"
                f" not to {mcp_server_id!r}"
            )
        raise LookupError(f"MCP server {mcp_server_id!r} has no connection {name_or_id!r}")

    async def remove_connection(self, connection_id: str) -> None:
        """Delete a connection; the downstream flows that used it go with it."""
        if not await self._db.run(lambda tx: repository.remove_connection(tx, connection_id)):
            raise ValueError(f"no MCP connection with id {connection_id!r}")

    async def _follow_database(self, *, now: bool = False) -> None:
        if not now and clock.monotonic() - self._checked_at < self.CHECK_INTERVAL:
            return
        self._checked_at = clock.monotonic()
        version = await self._db.data_version()
        if version == self._data_version:
            return
        servers = await self._db.run(repository.all_servers)
        self._by_id = {server.id: server for server in servers}
        self._by_resource = {server.resource: server for server in servers}
        self._data_version = version


def _secret_matches(server: McpServer, secret: str | None) -> bool:
    return bool(secret and server.secret_hash and matches(secret, server.secret_hash))


def _new_server(
    server_id: str,
    resource: str,
    scopes: str,
    name: str | None,
    default_scopes: str | None,
    version: str,
    created_at: datetime,
) -> McpServer:
    if not ID_PATTERN.fullmatch(server_id):
        raise ValueError(f"id {server_id!r} must be a slug: lower-case letters, digits, '-' and '_'")
    canonical = canonical_resource(resource)
    if canonical != resource:
        raise ValueError(f"resource must be written in canonical form: {canonical!r}")
    all_scopes = parse_scope(scopes)
    if not all_scopes:
        raise ValueError("an MCP server needs at least one scope")
    defaults = parse_scope(default_scopes) if default_scopes is not None else all_scopes
    if not set(defaults) <= set(all_scopes):
        raise ValueError("default scopes must be among the server's scopes")
    if not is_version(version):
        raise ValueError("version must be 1 to 64 letters, digits, '.', '_' or '-' (it is a path segment)")
    return McpServer(
        id=server_id,
        name=name or server_id,
        resource=resource,
        scopes=all_scopes,
        default_scopes=defaults,
        version=version,
        created_at=created_at,
    )


def _new_connection(
    mcp_server_id: str,
    name: str,
    client_id: str,
    scopes: str,
    issuer: str | None,
    authorization_endpoint: str | None,
    token_endpoint: str | None,
    client_secret_env: str | None,
    resource: str | None,
    created_at: datetime,
) -> McpConnection:
    if not name.strip():
        raise ValueError("a connection needs a name")
    if not client_id.strip():
        raise ValueError("a connection needs the client id this server has at the provider")
    endpoints = (authorization_endpoint, token_endpoint)
    by_issuer = issuer is not None and endpoints == (None, None)
    by_endpoints = issuer is None and None not in endpoints
    if not (by_issuer or by_endpoints):
        raise ValueError("give either the provider's issuer or both its authorization and token endpoints")
    for url in (issuer, *endpoints, resource):
        if url is not None:
            _check_provider_url(url)
    if client_secret_env is not None and not ENV_NAME.fullmatch(client_secret_env):
        raise ValueError(f"{client_secret_env!r} is not an environment variable name")
    return McpConnection(
        id=new_id("con"),
        mcp_server_id=mcp_server_id,
        name=name,
        issuer=issuer,
        authorization_endpoint=authorization_endpoint,
        token_endpoint=token_endpoint,
        client_id=client_id,
        client_secret_env=client_secret_env,
        scopes=parse_scope(scopes),
        created_at=created_at,
        resource=resource,
    )


def _check_provider_url(url: str) -> None:
    """OAuth 2.1 §1.5: a provider is reached over https, plain http only on loopback."""
    parts = urlsplit(url)
    if not parts.hostname or parts.fragment or not is_https_or_loopback_http(url):
        raise ValueError(f"{url!r} must be an https URL (plain http only on loopback), without a fragment")
