"""``clients list | add | cleanup | block | unblock``: registered clients (RFC 7591), deleting the idle
ones (RFC 7591 §5), and blocking one (docs/decisions/0025)."""

import argparse

from authorization_server import settings as settings_module
from authorization_server.cli.shared import Actions, action, database, group, journey_service, repeat_settings
from authorization_server.client_expiry import ClientExpiry
from authorization_server.clients.metadata import parse_client_metadata
from authorization_server.clients.service import ClientService
from authorization_server.db import Transaction
from authorization_server.errors import OAuthError
from authorization_server.issuers import GRANT_TYPES, TOKEN_ENDPOINT_AUTH_METHODS
from authorization_server.mcp_servers.service import McpServerService
from authorization_server.revocation import RevocationService
from authorization_server.services import client_directory, token_service
from authorization_server.settings import Settings


def add_commands(commands: Actions) -> None:
    clients = group(commands, "clients", help="registered clients")
    action(clients, "list", help="every registered client and when it was last used", run=list_clients)
    add = action(clients, "add", help="pre-register a confidential client; prints its secret once", run=add_client)
    add.add_argument("--name", required=True, help="the client's name, shown on the consent page")
    add.add_argument(
        "--redirect-uri", required=True, action="append", help="its redirect URI, matched exactly (repeatable)"
    )
    add.add_argument("--mcp-server", help="register at this MCP server's issuer (default: the root issuer)")
    settings_module.add_arguments(add, "issuer", default=argparse.SUPPRESS)
    cleanup = action(clients, "cleanup", help="delete the idle clients without live grants now", run=cleanup_clients)
    settings_module.add_arguments(cleanup, "client_idle_ttl", default=argparse.SUPPRESS)
    block = action(clients, "block", help="refuse a client everywhere and end every grant it holds", run=block_client)
    block.add_argument("client_id")
    unblock = action(
        clients, "unblock", help="let a blocked client be used again; its grants stay ended", run=unblock_client
    )
    unblock.add_argument("client_id")
    repeat_settings(clients, "db")


async def list_clients(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as db:
        clients = await db.run(ClientService().all)
    if not clients:
        print("no clients yet")
    for client in clients:
        blocked = "  BLOCKED" if client.blocked else ""
        print(f"{client.client_id}  {client.display_name!r}  issuer {client.issuer}{blocked}")
        print(f"    {client.token_endpoint_auth_method}, grants {' '.join(client.grant_types)}")
        print(f"    registered {client.created_at:%Y-%m-%d %H:%M}, last used {client.last_used_at:%Y-%m-%d %H:%M} UTC")
        print(f"    redirect URIs {' '.join(client.redirect_uris)}")


async def add_client(settings: Settings, args: argparse.Namespace) -> None:
    """Pre-register a confidential client, as a provider's operator does for a known partner (RFC 7591 §1).

    This is how another authorization server becomes this one's client for a downstream
    connection of its own (issue 4): the secret is printed once; only its digest is kept.
    """
    async with database(settings) as db:
        issuer, scopes = settings.issuer, ()
        if args.mcp_server is not None:
            server = await McpServerService(db).get(args.mcp_server)
            if server is None:
                raise ValueError(f"no MCP server with id {args.mcp_server!r}")
            issuer, scopes = f"{settings.issuer}/mcp/{server.id}", server.scopes
        body = {
            "client_name": args.name,
            "redirect_uris": args.redirect_uri,
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic",
        }
        try:
            metadata = parse_client_metadata(
                body,
                grant_types_supported=GRANT_TYPES,
                auth_methods_supported=TOKEN_ENDPOINT_AUTH_METHODS,
                scopes_offered=scopes,
            )
        except OAuthError as error:
            raise ValueError(error.description) from None
        registration = await db.run(lambda tx: ClientService().register(tx, issuer, metadata))
    print(f"registered client {args.name!r} at issuer {issuer} (the secret is shown once):")
    print(f"  client_id      {registration.client.client_id}")
    print(f"  client_secret  {registration.secret}")


async def cleanup_clients(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as db:
        expiry = ClientExpiry(
            db,
            clients=ClientService(),
            journeys=journey_service(settings, McpServerService(db)),
            tokens=token_service(settings, db),
            idle_ttl=settings.client_idle_ttl,
        )
        deleted = await expiry.cleanup()
    print(f"deleted {len(deleted)} client(s) idle for more than {settings.client_idle_ttl} s without live grants")
    for client_id in deleted:
        print(f"    {client_id}")


async def block_client(settings: Settings, args: argparse.Namespace) -> None:
    """Block a client and end every grant it holds, as its own RFC 7592 §2.3 deletion would.

    A running server reads the client's row in each request, so it refuses the client at once.
    """
    clients = ClientService()
    async with database(settings) as db:
        journeys = journey_service(settings, McpServerService(db))
        revocation = RevocationService(
            db, client_directory(settings, db, clients), journeys, token_service(settings, db)
        )

        async def block(tx: Transaction) -> int:
            if not await clients.set_blocked(tx, args.client_id, True):
                raise ValueError(f"no client with id {args.client_id!r}")
            return await revocation.end_client_grants(tx, args.client_id, "the operator blocked the client")

        ended = await db.run(block)
    print(f"blocked client {args.client_id}; ended {ended} grant(s)")


async def unblock_client(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as db:
        if not await db.run(lambda tx: ClientService().set_blocked(tx, args.client_id, False)):
            raise ValueError(f"no client with id {args.client_id!r}")
    print(f"unblocked client {args.client_id}; the grants ended when it was blocked stay ended")
