"""The MCP servers held in memory, in step with the database: the lookups on every request's path.

The one part of a domain module that opens units of work itself (docs/conventions/entities.md):
a lookup runs before the request's unit exists (the issuer of ``/token``, ``/authorize``, the
metadata), and must cost no thread hop when nothing changed. So the cache, not its caller, decides
when to look at the database, in one place, :meth:`McpServerCache._follow_database`.
"""

from dataclasses import dataclass, field

from mcp_authz.authorization_server import change_versions, clock
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidClient
from mcp_authz.authorization_server.mcp_servers import repository
from mcp_authz.authorization_server.mcp_servers.entities import McpServer
from mcp_authz.authorization_server.secrets_at_rest import matches
from mcp_authz.shared.resource import canonical_resource


@dataclass(frozen=True)
class _Loaded:
    """What one reload read, replaced whole so that a reader never sees half of two reloads."""

    version: int | None = None
    by_id: dict[str, McpServer] = field(default_factory=dict)
    by_resource: dict[str, McpServer] = field(default_factory=dict)


class McpServerCache:
    """Lookups by id and by resource, answered from memory.

    MCP servers change rarely and mostly from the command line or another instance, in another
    process. Every write bumps their version in ``change_versions`` (``McpServerService``, issue 13);
    the cache reads it at most every ``check_interval`` seconds (``--cache-check-interval``), and at
    once when a lookup misses: a server just added is found immediately, a changed one within the
    interval. This process's own writes also call :meth:`forget` inside the unit that writes, so
    this instance sees them at its next lookup.
    """

    #: The default of ``--cache-check-interval``.
    CHECK_INTERVAL = 1.0

    def __init__(self, db: Database, check_interval: float = CHECK_INTERVAL) -> None:
        self._db = db
        self._check_interval = check_interval
        self._loaded = _Loaded()
        self._checked_at = 0.0

    async def get(self, server_id: str) -> McpServer | None:
        await self._follow_database()
        if server_id not in self._loaded.by_id:
            await self._follow_database(now=True)
        return self._loaded.by_id.get(server_id)

    async def by_resource(self, resource: str) -> McpServer | None:
        """The server whose resource URI is ``resource`` (scheme and host compared case-insensitively)."""
        try:
            key = canonical_resource(resource)
        except ValueError:
            return None
        await self._follow_database()
        if key not in self._loaded.by_resource:
            await self._follow_database(now=True)
        return self._loaded.by_resource.get(key)

    async def all(self) -> list[McpServer]:
        await self._follow_database()
        return list(self._loaded.by_id.values())

    async def authenticate(self, server_id: str, secret: str | None) -> McpServer:
        """The MCP server, if ``secret`` is its introspection secret (RFC 7662 §2.1); else ``InvalidClient``.

        A secret just set from the command line is seen at once: a mismatch re-reads the database.
        """
        server = await self.get(server_id)
        if server is not None and not _secret_matches(server, secret):
            await self._follow_database(now=True)
            server = self._loaded.by_id.get(server_id)
        if server is None or not _secret_matches(server, secret):
            raise InvalidClient("resource server authentication failed", detail=f"MCP server {server_id!r}")
        return server

    def forget(self) -> None:
        """Load again at the next lookup: this process wrote ``mcp_servers`` (called inside that unit).

        At once, not within the second: a secret rotated in this process (the console, issue 17) must
        stop working at its next use.
        """
        self._loaded = _Loaded(None, self._loaded.by_id, self._loaded.by_resource)
        self._checked_at = 0.0

    async def _follow_database(self, *, now: bool = False) -> None:
        """The cache's one way to the database: a unit of its own (or the running one, joined), once an
        interval at most unless ``now``; the servers are read again only if their version moved."""
        if not now and clock.monotonic() - self._checked_at < self._check_interval:
            return
        self._checked_at = clock.monotonic()
        await self._db.run(self._reload)

    async def _reload(self, tx: Transaction) -> None:
        # On the database thread, in order with the units that write and call forget().
        version = await change_versions.read(tx, change_versions.MCP_SERVERS)
        if version == self._loaded.version:
            return
        servers = await repository.all_servers(tx)
        self._loaded = _Loaded(
            version, {server.id: server for server in servers}, {server.resource: server for server in servers}
        )


def _secret_matches(server: McpServer, secret: str | None) -> bool:
    return bool(secret and server.secret_hash and matches(secret, server.secret_hash))
