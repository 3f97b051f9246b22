"""The command line: run the server, and manage users, MCP servers, journeys and clients.

::

    python -m authorization_server [--host H] [--port P] [--db PATH] [--demo] ...   run the server
    python -m authorization_server users add NAME                                   add a user (asks for the password)
    python -m authorization_server mcp-servers add --id ID --resource URL --scopes "a b"
    python -m authorization_server mcp-servers list
    python -m authorization_server connections add --mcp-server ID --name NAME --client-id ID --scopes "a b"
        (--issuer URL | --authorization-endpoint URL --token-endpoint URL) [--client-secret-env VAR] [--resource URL]
    python -m authorization_server connections list [--mcp-server ID]
    python -m authorization_server connections remove ID
    python -m authorization_server journeys list [--limit N]
    python -m authorization_server journeys show ID
    python -m authorization_server clients list
    python -m authorization_server clients add --name NAME --redirect-uri URI [--mcp-server ID]   a confidential client
    python -m authorization_server clients cleanup [--client-idle-ttl SECONDS]      delete idle clients now
"""

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import uvicorn

from authorization_server import clock
from authorization_server import settings as settings_module
from authorization_server.accounts.service import AccountService
from authorization_server.app import create_app
from authorization_server.client_expiry import ClientExpiry
from authorization_server.clients.metadata import parse_client_metadata
from authorization_server.clients.service import ClientService
from authorization_server.db import Database
from authorization_server.errors import OAuthError
from authorization_server.issuers import GRANT_TYPES, TOKEN_ENDPOINT_AUTH_METHODS
from authorization_server.journeys.service import JourneyService
from authorization_server.mcp_servers.service import McpServerService
from authorization_server.settings import Settings
from authorization_server.timelines import Timeline, Timelines
from authorization_server.tokens import keys
from authorization_server.tokens.service import TokenService


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_module.load(args)
    except ValueError as exc:
        parser.exit(2, f"authorization_server: {exc}\n")
    command: Callable[[Settings, argparse.Namespace], Awaitable[None]] | None = getattr(args, "run", None)
    if command is None:
        serve(settings)
        return
    try:
        asyncio.run(command(settings, args))
    except ValueError as exc:
        parser.exit(1, f"authorization_server: {exc}\n")


def serve(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A line per request: leave out of each record what the format never prints, as the logging
    # HOWTO's "Optimization" section says (the caller's frame, thread and process names).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # uvicorn's access log prints query strings, which can carry state and challenges: ours does not.
    # Forwarded headers are believed from the trusted proxies only, and from nobody without them
    # (uvicorn would otherwise trust 127.0.0.1): docs/decisions/0019.
    proxies = ",".join(str(network) for network in settings.proxy_networks)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )


async def add_user(settings: Settings, args: argparse.Namespace) -> None:
    password = _read_password()
    async with _database(settings) as db:
        user = await AccountService(db, settings.session_ttl).add_user(args.name, password)
    print(f"added user {user.username} ({user.id})")


async def add_mcp_server(settings: Settings, args: argparse.Namespace) -> None:
    async with _database(settings) as db:
        server = await McpServerService(db).add(
            server_id=args.id,
            resource=args.resource,
            scopes=args.scopes,
            name=args.name,
            default_scopes=args.default_scopes,
            version=args.version,
        )
    print(f"added MCP server {server.id}: {server.resource}")
    print(f"  its issuer: {settings.issuer}/mcp/{server.id}")


async def list_mcp_servers(settings: Settings, args: argparse.Namespace) -> None:
    async with _database(settings) as db:
        servers = await McpServerService(db).all()
    if not servers:
        print("no MCP servers yet: add one with `mcp-servers add`")
    for server in servers:
        print(f"{server.id}  {server.resource}")
        print(f"    name {server.name!r}, version {server.version}, issuer {settings.issuer}/mcp/{server.id}")
        print(f"    scopes {' '.join(server.scopes)} (default {' '.join(server.default_scopes)})")
        print(f"    introspection credentials {'set' if server.secret_hash else 'none (`mcp-servers credentials ID`)'}")


async def rotate_mcp_server_secret(settings: Settings, args: argparse.Namespace) -> None:
    """Print a new introspection secret for the MCP server, once: only its digest is kept."""
    async with _database(settings) as db:
        secret = await McpServerService(db).rotate_secret(args.id)
    issuer = f"{settings.issuer}/mcp/{args.id}"
    print(f"new credentials of MCP server {args.id} (shown once; any previous secret no longer works):")
    print(f"  client_id      {args.id}")
    print(f"  client_secret  {secret}")
    print(f"  introspection  {issuer}/introspect (client_secret_basic or client_secret_post)")


async def add_connection(settings: Settings, args: argparse.Namespace) -> None:
    async with _database(settings) as db:
        connection = await McpServerService(db).add_connection(
            mcp_server_id=args.mcp_server,
            name=args.name,
            client_id=args.client_id,
            scopes=args.scopes,
            issuer=args.provider_issuer,
            authorization_endpoint=args.authorization_endpoint,
            token_endpoint=args.token_endpoint,
            client_secret_env=args.client_secret_env,
            resource=args.provider_resource,
        )
    print(f"added MCP connection {connection.id} ({connection.name}) to MCP server {connection.mcp_server_id}")


async def list_connections(settings: Settings, args: argparse.Namespace) -> None:
    async with _database(settings) as db:
        connections = await McpServerService(db).connections(args.mcp_server)
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
    async with _database(settings) as db:
        await McpServerService(db).remove_connection(args.id)
    print(f"removed MCP connection {args.id} and its downstream flows")


async def rotate_keys(settings: Settings, args: argparse.Namespace) -> None:
    """Add a new current signing key; a running server signs with it within a second."""
    async with _database(settings) as db, db.transaction() as tx:
        key = await keys.add(tx, settings.signing_alg)
    keep_for = settings.key_lifetime_after_rotation
    print(f"new signing key {key.kid} ({key.alg}) is current; the previous one stays published for {keep_for}")


async def list_keys(settings: Settings, args: argparse.Namespace) -> None:
    async with _database(settings) as db, db.transaction() as tx:
        stored = await keys.all_keys(tx, settings.key_lifetime_after_rotation)
    now = clock.now()
    for key in stored:
        if key.retires_at is None:
            state = "current"
        elif key.retires_at > now:
            state = f"published until {key.retires_at:%Y-%m-%d %H:%M:%S} UTC"
        else:
            state = "retired"
        print(f"{key.kid}  {key.alg}  created {key.created_at:%Y-%m-%d %H:%M:%S} UTC  {state}")


async def list_journeys(settings: Settings, args: argparse.Namespace) -> None:
    async with _database(settings) as db:
        timelines = await _timelines(settings, db).recent(args.limit)
    if not timelines:
        print("no journeys yet")
    for timeline in timelines:
        _print_timeline(timeline, with_steps=args.steps)


async def show_journey(settings: Settings, args: argparse.Namespace) -> None:
    """Issue 4: one journey as a timeline, each step with its time and how long it took."""
    async with _database(settings) as db:
        timeline = await _timelines(settings, db).get(args.id)
    if timeline is None:
        raise ValueError(f"no journey with id {args.id!r}")
    _print_timeline(timeline, with_steps=True)


def _print_timeline(timeline: Timeline, *, with_steps: bool) -> None:
    took = timeline.duration.total_seconds() * 1000
    print(f"journey {timeline.journey_id}  [{timeline.status}]  started {timeline.started_at:%Y-%m-%d %H:%M:%S} UTC")
    print(f"  client        {timeline.client_name or '(deleted)'!r} ({timeline.client_id})")
    version = f", version {timeline.mcp_server_version}" if timeline.mcp_server_version else ""
    print(f"  MCP server    {timeline.mcp_server_name or '(deleted)'!r} ({timeline.mcp_server_id}{version})")
    print(f"  issuer        {timeline.issuer}")
    print(f"  MCP flow      {timeline.mcp_flow_id} (links the journey, the client and the MCP server)")
    connections = ", ".join(f"{c.name} ({c.id})" for c in timeline.connections) or "none"
    print(f"  connections   {connections}")
    downstream = ", ".join(f"{d.connection_name} ({d.flow_id}) {d.status}" for d in timeline.downstream) or "none"
    print(f"  downstream    {downstream}")
    if timeline.user_id:
        print(f"  user          {timeline.user_id}")
    print(f"  outcome       {timeline.outcome}, {len(timeline.steps)} steps in {took:.1f} ms")
    if with_steps:
        for step in timeline.steps:
            ms = step.took.total_seconds() * 1000
            print(f"    {step.at:%H:%M:%S.%f}  +{ms:8.1f} ms  {step.step:<26} {step.detail or ''}".rstrip())


async def list_clients(settings: Settings, args: argparse.Namespace) -> None:
    async with _database(settings) as db, db.transaction() as tx:
        clients = await ClientService().all(tx)
    if not clients:
        print("no clients yet")
    for client in clients:
        print(f"{client.client_id}  {client.display_name!r}  issuer {client.issuer}")
        print(f"    {client.token_endpoint_auth_method}, grants {' '.join(client.grant_types)}")
        print(f"    registered {client.created_at:%Y-%m-%d %H:%M}, last used {client.last_used_at:%Y-%m-%d %H:%M} UTC")
        print(f"    redirect URIs {' '.join(client.redirect_uris)}")


async def add_client(settings: Settings, args: argparse.Namespace) -> None:
    """Pre-register a confidential client, as a provider's operator does for a known partner (RFC 7591 §1).

    This is how another authorization server becomes this one's client for a downstream
    connection of its own (issue 4): the secret is printed once; only its digest is kept.
    """
    async with _database(settings) as db:
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
        async with db.transaction() as tx:
            registration = await ClientService().register(tx, issuer, metadata)
    print(f"registered client {args.name!r} at issuer {issuer} (the secret is shown once):")
    print(f"  client_id      {registration.client.client_id}")
    print(f"  client_secret  {registration.secret}")


async def cleanup_clients(settings: Settings, args: argparse.Namespace) -> None:
    async with _database(settings) as db:
        expiry = ClientExpiry(
            db,
            clients=ClientService(),
            journeys=_journeys(settings, McpServerService(db)),
            tokens=TokenService(
                keys.Keys(db, settings.key_lifetime_after_rotation),
                access_token_ttl=settings.access_token_ttl,
                refresh_token_ttl=settings.refresh_token_ttl,
                refresh_grace=settings.refresh_grace,
            ),
            idle_ttl=settings.client_idle_ttl,
        )
        deleted = await expiry.cleanup()
    print(f"deleted {len(deleted)} client(s) idle for more than {settings.client_idle_ttl} s without live grants")
    for client_id in deleted:
        print(f"    {client_id}")


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    """The database of ``settings``, migrated, and closed after the command, also on failure."""
    db = await Database.open(settings.db)
    try:
        yield db
    finally:
        await db.close()


def _journeys(settings: Settings, mcp_servers: McpServerService) -> JourneyService:
    return JourneyService(mcp_servers, code_ttl=settings.code_ttl, interaction_ttl=settings.interaction_ttl)


def _timelines(settings: Settings, db: Database) -> Timelines:
    mcp_servers = McpServerService(db)
    journeys = _journeys(settings, mcp_servers)
    return Timelines(db, journeys=journeys, clients=ClientService(), mcp_servers=mcp_servers)


def _read_password() -> str:
    """Ask twice on a terminal; read one line when the password is piped in."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise ValueError("the passwords differ")
    return password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m authorization_server",
        description="An OAuth 2.1 authorization server for MCP. Without a command, it runs the server.",
    )
    settings_module.add_arguments(parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    users = commands.add_parser("users", help="manage user accounts").add_subparsers(metavar="ACTION", required=True)
    add = users.add_parser("add", help="add a user; asks for the password (or reads it from stdin)")
    add.add_argument("name")
    add.set_defaults(run=add_user)

    servers = commands.add_parser("mcp-servers", help="manage the MCP servers tokens are issued for")
    actions = servers.add_subparsers(metavar="ACTION", required=True)
    add = actions.add_parser("add", help="register an MCP server (a protected resource)")
    add.add_argument("--id", required=True, help="slug used in its issuer URL: /mcp/ID")
    add.add_argument("--resource", required=True, help="its canonical URL, e.g. http://localhost:8000/mcp")
    add.add_argument("--scopes", required=True, help='the scopes it understands, e.g. "mcp:read mcp:write"')
    add.add_argument("--default-scopes", help="granted when a client asks for none (default: all)")
    add.add_argument("--name", help="the name users see on the consent page (default: the id)")
    add.add_argument("--version", default="latest", help="advertised in its registration endpoint")
    add.set_defaults(run=add_mcp_server)
    actions.add_parser("list", help="list the MCP servers").set_defaults(run=list_mcp_servers)
    credentials = actions.add_parser(
        "credentials", help="set (or replace) the secret an MCP server introspects tokens with; printed once"
    )
    credentials.add_argument("id")
    credentials.set_defaults(run=rotate_mcp_server_secret)

    connections = commands.add_parser(
        "connections", help="manage the downstream OAuth providers an MCP server's tools need"
    ).add_subparsers(metavar="ACTION", required=True)
    add = connections.add_parser("add", help="give an MCP server a connection to a downstream provider")
    add.add_argument("--mcp-server", required=True, help="id of the MCP server the connection belongs to")
    add.add_argument("--name", required=True, help="unique per MCP server, e.g. github")
    provider = add.add_mutually_exclusive_group(required=True)
    # Not args.issuer: that is this server's own issuer setting.
    provider.add_argument("--issuer", dest="provider_issuer", help="its issuer, endpoints discovered (RFC 8414)")
    provider.add_argument("--authorization-endpoint", help="its authorization endpoint (with --token-endpoint)")
    add.add_argument("--token-endpoint", help="its token endpoint (with --authorization-endpoint)")
    add.add_argument("--client-id", required=True, help="the client this server is at the provider")
    add.add_argument(
        "--client-secret-env",
        help="name of the environment variable of the server that holds the client secret (the secret is not stored)",
    )
    add.add_argument("--scopes", default="", help='the scopes the tools need at the provider, e.g. "repo read:user"')
    add.add_argument(
        "--resource", dest="provider_resource", help="the provider's resource its tokens are for (RFC 8707)"
    )
    add.set_defaults(run=add_connection)
    listing = connections.add_parser("list", help="the MCP connections and their providers")
    listing.add_argument("--mcp-server", help="only this MCP server's connections")
    listing.set_defaults(run=list_connections)
    remove = connections.add_parser("remove", help="delete a connection and its downstream flows")
    remove.add_argument("id")
    remove.set_defaults(run=remove_connection)

    journeys = commands.add_parser("journeys", help="show authorization journeys").add_subparsers(
        metavar="ACTION", required=True
    )
    listing = journeys.add_parser("list", help="the latest journeys: client, MCP server, connections, outcome")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--steps", action="store_true", help="each journey with its steps, as `journeys show`")
    listing.set_defaults(run=list_journeys)
    show = journeys.add_parser("show", help="one journey as a timeline: each step, its time and duration")
    show.add_argument("id")
    show.set_defaults(run=show_journey)

    key_actions = commands.add_parser("keys", help="manage the keys that sign access tokens").add_subparsers(
        metavar="ACTION", required=True
    )
    key_actions.add_parser(
        "rotate", help="add a new current signing key (--signing-alg); old keys stay published until they retire"
    ).set_defaults(run=rotate_keys)
    key_actions.add_parser("list", help="the signing keys, and until when each is published").set_defaults(
        run=list_keys
    )

    clients = commands.add_parser("clients", help="registered clients").add_subparsers(metavar="ACTION", required=True)
    clients.add_parser("list", help="every registered client and when it was last used").set_defaults(run=list_clients)
    add_client_command = clients.add_parser("add", help="pre-register a confidential client; prints its secret once")
    add_client_command.add_argument("--name", required=True, help="the client's name, shown on the consent page")
    add_client_command.add_argument(
        "--redirect-uri", required=True, action="append", help="its redirect URI, matched exactly (repeatable)"
    )
    add_client_command.add_argument(
        "--mcp-server", help="register at this MCP server's issuer (default: the root issuer)"
    )
    settings_module.add_arguments(add_client_command, "issuer", default=argparse.SUPPRESS)
    add_client_command.set_defaults(run=add_client)
    cleanup = clients.add_parser("cleanup", help="delete the idle clients without live grants now")
    settings_module.add_arguments(cleanup, "client_idle_ttl", default=argparse.SUPPRESS)
    cleanup.set_defaults(run=cleanup_clients)

    for sub in (users, actions, connections, journeys, clients):
        for choice in sub.choices.values():
            settings_module.add_arguments(choice, "db", default=argparse.SUPPRESS)
    for choice in key_actions.choices.values():
        settings_module.add_arguments(choice, "db", "signing_alg", "access_token_ttl", default=argparse.SUPPRESS)
    return parser
