"""SQL for the ``mcp_servers``, ``mcp_connections``, ``trusted_identity_providers``, ``identity_assertions`` tables."""

import json
from datetime import datetime

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Row, Transaction
from mcp_authz.authorization_server.mcp_servers.entities import McpConnection, McpServer, TrustedIdentityProvider
from mcp_authz.shared.scopes import format_scope, parse_scope


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


async def trust_identity_provider(tx: Transaction, idp: TrustedIdentityProvider) -> None:
    """Record the IdP for its MCP server; one already there with the same issuer is replaced."""
    await tx.execute(
        "DELETE FROM trusted_identity_providers WHERE mcp_server_id = ? AND issuer = ?", (idp.mcp_server_id, idp.issuer)
    )
    await tx.execute(
        "INSERT INTO trusted_identity_providers (mcp_server_id, issuer, jwks_uri, jwks, client_ids, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            idp.mcp_server_id,
            idp.issuer,
            idp.jwks_uri,
            json.dumps(idp.jwks) if idp.jwks is not None else None,
            " ".join(idp.client_ids),
            clock.to_db(idp.created_at),
        ),
    )


async def distrust_identity_provider(tx: Transaction, mcp_server_id: str, issuer: str) -> bool:
    changed = await tx.execute(
        "DELETE FROM trusted_identity_providers WHERE mcp_server_id = ? AND issuer = ?", (mcp_server_id, issuer)
    )
    return changed == 1


async def trusted_identity_providers(tx: Transaction, mcp_server_id: str | None) -> list[TrustedIdentityProvider]:
    """The IdPs one MCP server trusts, or every server's (``None``), ordered by server and issuer."""
    sql = "SELECT * FROM trusted_identity_providers"
    args: tuple[str, ...] = ()
    if mcp_server_id is not None:
        sql += " WHERE mcp_server_id = ?"
        args = (mcp_server_id,)
    rows = await tx.fetch_all(sql + " ORDER BY mcp_server_id, issuer", args)
    return [
        TrustedIdentityProvider(
            mcp_server_id=row["mcp_server_id"],
            issuer=row["issuer"],
            jwks_uri=row["jwks_uri"],
            jwks=json.loads(row["jwks"]) if row["jwks"] is not None else None,
            client_ids=tuple(row["client_ids"].split()),
            created_at=clock.from_db(row["created_at"]),
        )
        for row in rows
    ]


async def spend_identity_assertion(
    tx: Transaction, issuer: str, jti_hash: str, expires_at: datetime, *, forget_expired_before: datetime
) -> bool:
    """Record an ID-JAG's ``jti``; ``False`` if it was already used and is still remembered.

    The ``jti``s of assertions that expired before ``forget_expired_before`` are deleted first.
    """
    await tx.execute("DELETE FROM identity_assertions WHERE expires_at < ?", (clock.to_db(forget_expired_before),))
    changed = await tx.execute(
        "INSERT INTO identity_assertions (issuer, jti_hash, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (issuer, jti_hash, clock.to_db(expires_at)),
    )
    return changed == 1
