"""``connections add | list | remove``: the downstream OAuth providers an MCP server's tools need (issue 4)."""

import argparse

from mcp_authz.authorization_server.cli.shared import Actions, action, group, in_unit, provider_client, repeat_settings
from mcp_authz.authorization_server.settings import Settings


def add_commands(commands: Actions) -> None:
    connections = group(
        commands, "connections", help="manage the downstream OAuth providers an MCP server's tools need"
    )
    add = action(
        connections, "add", help="give an MCP server a connection to a downstream provider", run=add_connection
    )
    add.add_argument("--mcp-server", required=True, help="id of the MCP server the connection belongs to")
    add.add_argument("--name", required=True, help="unique per MCP server, e.g. github")
    provider = add.add_mutually_exclusive_group(required=True)
    # Not args.issuer: that is this server's own issuer setting.
    provider.add_argument("--issuer", dest="provider_issuer", help="its issuer, endpoints discovered (RFC 8414)")
    provider.add_argument("--authorization-endpoint", help="its authorization endpoint (with --token-endpoint)")
    add.add_argument("--token-endpoint", help="its token endpoint (with --authorization-endpoint)")
    provider_client(add)
    add.add_argument("--scopes", default="", help='the scopes the tools need at the provider, e.g. "repo read:user"')
    add.add_argument(
        "--resource", dest="provider_resource", help="the provider's resource its tokens are for (RFC 8707)"
    )
    listing = action(connections, "list", help="the MCP connections and their providers", run=list_connections)
    listing.add_argument("--mcp-server", help="only this MCP server's connections")
    remove = action(connections, "remove", help="delete a connection and its downstream flows", run=remove_connection)
    remove.add_argument("id")
    repeat_settings(connections, "db")


async def add_connection(settings: Settings, args: argparse.Namespace) -> None:
    connection = await in_unit(
        settings,
        lambda found, tx: found.mcp_servers.add_connection(
            tx,
            mcp_server_id=args.mcp_server,
            name=args.name,
            client_id=args.client_id,
            scopes=args.scopes,
            issuer=args.provider_issuer,
            authorization_endpoint=args.authorization_endpoint,
            token_endpoint=args.token_endpoint,
            client_secret_env=args.client_secret_env,
            resource=args.provider_resource,
        ),
    )
    print(f"added MCP connection {connection.id} ({connection.name}) to MCP server {connection.mcp_server_id}")


async def list_connections(settings: Settings, args: argparse.Namespace) -> None:
    connections = await in_unit(settings, lambda found, tx: found.mcp_servers.connections(tx, args.mcp_server))
    if not connections:
        print("no MCP connections yet: add one with `connections add`")
    for connection in connections:
        print(f"{connection.id}  {connection.name!r} of MCP server {connection.mcp_server_id}")
        if connection.issuer is not None:
            print(f"    provider issuer {connection.issuer}")
        else:
            print(f"    authorization {connection.authorization_endpoint}, token {connection.token_endpoint}")
        secret = f"secret from ${connection.client_secret_env}" if connection.client_secret_env else "no secret"
        print(f"    client {connection.client_id} ({secret}), scopes {' '.join(connection.scopes) or '(none)'}")
        if connection.resource:
            print(f"    resource {connection.resource}")


async def remove_connection(settings: Settings, args: argparse.Namespace) -> None:
    await in_unit(settings, lambda found, tx: found.mcp_servers.remove_connection(tx, args.id))
    print(f"removed MCP connection {args.id} and its downstream flows")
