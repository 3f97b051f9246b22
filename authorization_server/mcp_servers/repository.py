"""SQL for the ``mcp_servers`` and ``mcp_connections`` tables."""

import json

from authorization_server import clock
from authorization_server.db import Row, Transaction
from authorization_server.mcp_servers.entities import McpConnection, McpServer
from shared.scopes import format_scope, parse_scope


async def all_servers(tx: Transaction) -> list[McpServer]:
    return [_server(row) for row in await tx.fetch_all("SELECT * FROM mcp_servers ORDER BY id")]


async def server(tx: Transaction, server_id: str) -> McpServer | None:
    row = await tx.fetch_one("SELECT * FROM mcp_servers WHERE id = ?", (server_id,))
    return _server(row) if row else None


async def add(tx: Transaction, server: McpServer) -> None:
    await tx.execute(
        "INSERT INTO mcp_servers (id, name, resource, scopes, default_scopes, version, created_at, scope_descriptions)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            server.id,
            server.name,
            server.resource,
            format_scope(server.scopes),
            format_scope(server.default_scopes),
            server.version,
            clock.to_db(server.created_at),
            json.dumps(dict(server.scope_descriptions)),
        ),
    )


async def find_by_id_or_resource(tx: Transaction, server_id: str, resource: str) -> McpServer | None:
    row = await tx.fetch_one("SELECT * FROM mcp_servers WHERE id = ? OR resource = ?", (server_id, resource))
    return _server(row) if row else None


async def set_secret_hash(tx: Transaction, server_id: str, secret_hash: str) -> bool:
    """Replace the server's introspection secret; false if there is no such server."""
    return await tx.execute("UPDATE mcp_servers SET secret_hash = ? WHERE id = ?", (secret_hash, server_id)) == 1


async def update(tx: Transaction, server: McpServer) -> None:
    """Store the server's name, resource, scopes and their descriptions (``mcp-servers update``)."""
    await tx.execute(
        "UPDATE mcp_servers SET name = ?, resource = ?, scopes = ?, default_scopes = ?, scope_descriptions = ?"
        " WHERE id = ?",
        (
            server.name,
            server.resource,
            format_scope(server.scopes),
            format_scope(server.default_scopes),
            json.dumps(dict(server.scope_descriptions)),
            server.id,
        ),
    )


async def delete(tx: Transaction, server_id: str) -> bool:
    """Delete the server; its connections, MCP flows, consents and approvals go with it (foreign keys cascade)."""
    return await tx.execute("DELETE FROM mcp_servers WHERE id = ?", (server_id,)) == 1


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
        scope_descriptions=_descriptions(row["scope_descriptions"]),
    )


def _descriptions(stored: str) -> tuple[tuple[str, str], ...]:
    loaded = json.loads(stored)
    if not isinstance(loaded, dict):
        return ()
    return tuple((str(scope), str(text)) for scope, text in loaded.items())


async def add_connection(tx: Transaction, connection: McpConnection) -> None:
    await tx.execute(
        "INSERT INTO mcp_connections (id, mcp_server_id, name, issuer, authorization_endpoint, token_endpoint,"
        " client_id, client_secret_env, scopes, created_at, resource) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            connection.id,
            connection.mcp_server_id,
            connection.name,
            connection.issuer,
            connection.authorization_endpoint,
            connection.token_endpoint,
            connection.client_id,
            connection.client_secret_env,
            format_scope(connection.scopes),
            clock.to_db(connection.created_at),
            connection.resource,
        ),
    )


async def connections(tx: Transaction, mcp_server_id: str | None) -> list[McpConnection]:
    """Every connection, or those of one MCP server, by server and name."""
    rows = await tx.fetch_all(
        # coalesce, not "? IS NULL OR ...": PostgreSQL must be able to tell the parameter's type
        "SELECT * FROM mcp_connections WHERE mcp_server_id = coalesce(?, mcp_server_id) ORDER BY mcp_server_id, name",
        (mcp_server_id,),
    )
    return [_connection(row) for row in rows]


async def connection(tx: Transaction, connection_id: str) -> McpConnection | None:
    row = await tx.fetch_one("SELECT * FROM mcp_connections WHERE id = ?", (connection_id,))
    return _connection(row) if row else None


async def connection_by_name(tx: Transaction, mcp_server_id: str, name: str) -> McpConnection | None:
    row = await tx.fetch_one(
        "SELECT * FROM mcp_connections WHERE mcp_server_id = ? AND name = ?", (mcp_server_id, name)
    )
    return _connection(row) if row else None


async def connection_by_name_or_id(tx: Transaction, name_or_id: str) -> list[McpConnection]:
    """The connection with this id, and those of any MCP server with this name."""
    rows = await tx.fetch_all("SELECT * FROM mcp_connections WHERE id = ? OR name = ?", (name_or_id, name_or_id))
    return [_connection(row) for row in rows]


async def remove_connection(tx: Transaction, connection_id: str) -> bool:
    """Delete a connection and, by cascade, its downstream flows; false if there is none."""
    return await tx.execute("DELETE FROM mcp_connections WHERE id = ?", (connection_id,)) == 1


def _connection(row: Row) -> McpConnection:
    return McpConnection(
        id=row["id"],
        mcp_server_id=row["mcp_server_id"],
        name=row["name"],
        issuer=row["issuer"],
        authorization_endpoint=row["authorization_endpoint"],
        token_endpoint=row["token_endpoint"],
        client_id=row["client_id"],
        client_secret_env=row["client_secret_env"],
        scopes=parse_scope(row["scopes"]),
        created_at=clock.from_db(row["created_at"]),
        resource=row["resource"],
    )
