"""The MCP servers held in memory, in step with the database: the lookups on every request's path.

The one part of a domain module that opens units of work itself (docs/conventions/entities.md):
a lookup runs before the request's unit exists (the issuer of ``/token``, ``/authorize``, the
metadata), and must cost no thread hop when nothing changed. So the cache, not its caller, decides
when to look at the database, in one place, :meth:`McpServerCache._follow_database`.
"""

from dataclasses import dataclass, field

from authorization_server import clock
from authorization_server.db import Database, Transaction
from authorization_server.errors import InvalidClient
from authorization_server.mcp_servers import repository
from authorization_server.mcp_servers.entities import McpServer
from authorization_server.secrets_at_rest import matches
from shared.resource import canonical_resource


@dataclass(frozen=True)
class _Loaded:
    """What one reload read, replaced whole so that a reader never sees half of two reloads."""

    data_version: int | None = None
    by_id: dict[str, McpServer] = field(default_factory=dict)
    by_resource: dict[str, McpServer] = field(default_factory=dict)


class McpServerCache:
    """Lookups by id and by resource, answered from memory.

    MCP servers change rarely and mostly from the command line, in another process. The cache
    asks SQLite whether anything was committed since it loaded (``PRAGMA data_version``) at most
    once a second, and at once when a lookup misses: a server just added is found immediately, a
    changed one within a second. This process's own writes do not change ``data_version``:
    ``McpServerService`` calls :meth:`forget` inside the unit that writes.
    """

    CHECK_INTERVAL = 1.0

    def __init__(self, db: Database) -> None:
        self._db = db
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
        """The cache's one way to the database: a unit of its own (or the running one, joined), once a
        second at most unless ``now``; the servers are read again only if ``data_version`` moved."""
        if not now and clock.monotonic() - self._checked_at < self.CHECK_INTERVAL:
            return
        self._checked_at = clock.monotonic()
        await self._db.run(self._reload)

    async def _reload(self, tx: Transaction) -> None:
        # On the database thread, in order with the units that write and call forget().
        version = await self._db.data_version()
        if version == self._loaded.data_version:
            return
        servers = await repository.all_servers(tx)
        self._loaded = _Loaded(
            version, {server.id: server for server in servers}, {server.resource: server for server in servers}
        )


def _secret_matches(server: McpServer, secret: str | None) -> bool:
    return bool(secret and server.secret_hash and matches(secret, server.secret_hash))
