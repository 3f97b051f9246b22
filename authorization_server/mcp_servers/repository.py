"""SQL for the ``mcp_servers`` table."""

from authorization_server import clock
from authorization_server.db import Row, Transaction
from authorization_server.mcp_servers.entities import McpServer
from shared.scopes import format_scope, parse_scope


async def all_servers(tx: Transaction) -> list[McpServer]:
    return [_server(row) for row in await tx.fetch_all("SELECT * FROM mcp_servers ORDER BY id")]


async def add(tx: Transaction, server: McpServer) -> None:
    await tx.execute(
        "INSERT INTO mcp_servers (id, name, resource, scopes, default_scopes, version, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            server.id,
            server.name,
            server.resource,
            format_scope(server.scopes),
            format_scope(server.default_scopes),
            server.version,
            clock.to_db(server.created_at),
        ),
    )


async def find_by_id_or_resource(tx: Transaction, server_id: str, resource: str) -> McpServer | None:
    row = await tx.fetch_one("SELECT * FROM mcp_servers WHERE id = ? OR resource = ?", (server_id, resource))
    return _server(row) if row else None


async def set_secret_hash(tx: Transaction, server_id: str, secret_hash: str) -> bool:
    """Replace the server's introspection secret; false if there is no such server."""
    return await tx.execute("UPDATE mcp_servers SET secret_hash = ? WHERE id = ?", (secret_hash, server_id)) == 1


def _server(row: Row) -> McpServer:
    return McpServer(
        id=row["id"],
        name=row["name"],
        resource=row["resource"],
        scopes=parse_scope(row["scopes"]),
        default_scopes=parse_scope(row["default_scopes"]),
        version=row["version"],
        created_at=clock.from_db(row["created_at"]),
        secret_hash=row["secret_hash"],
    )
