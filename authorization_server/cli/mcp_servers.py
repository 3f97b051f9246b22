"""``mcp-servers add | list | update | remove | credentials | trust-idp | idps | distrust-idp``: the MCP servers
(protected resources) tokens are issued for, and the enterprise identity providers each trusts (SEP-990)."""

import argparse
from pathlib import Path

from mcp_authz.authorization_server.cli.shared import (
    Actions,
    action,
    group,
    in_unit,
    operate,
    read_jwks_file,
    repeat_settings,
)
from mcp_authz.authorization_server.flow.discovery.issuers import mcp_issuer_url
from mcp_authz.authorization_server.mcp_servers.service import scope_descriptions
from mcp_authz.authorization_server.routes import INTROSPECT_PATH
from mcp_authz.authorization_server.settings import Settings


def add_commands(commands: Actions) -> None:
    servers = group(commands, "mcp-servers", help="manage the MCP servers tokens are issued for")
    add = action(servers, "add", help="register an MCP server (a protected resource)", run=add_mcp_server)
    add.add_argument("--id", required=True, help="slug used in its issuer URL: /mcp/ID")
    add.add_argument("--resource", required=True, help="its canonical URL, e.g. http://localhost:8000/mcp")
    add.add_argument("--scopes", required=True, help='the scopes it understands, e.g. "mcp:read mcp:write"')
    add.add_argument("--default-scopes", help="granted when a client asks for none (default: all)")
    add.add_argument("--name", help="the name users see on the consent page (default: the id)")
    _describe_scope(
        add, 'what a scope lets a client do, shown on the consent page, e.g. "mcp:read=Read your notes"; repeatable'
    )
    add.add_argument(
        "--version", default="latest", help="advertised in its registration endpoint: 1 to 64 of A-Za-z0-9._-"
    )
    action(servers, "list", help="list the MCP servers", run=list_mcp_servers)
    credentials = action(
        servers,
        "credentials",
        help="set (or replace) the secret an MCP server introspects tokens with; printed once",
        run=rotate_mcp_server_secret,
    )
    credentials.add_argument("id")
    update = action(
        servers, "update", help="change an MCP server's name, resource or scopes (issue 17)", run=update_mcp_server
    )
    update.add_argument("id")
    update.add_argument("--name", help="the name users see on the consent page")
    update.add_argument("--resource", help="its canonical URL; tokens issued for the old one keep their audience")
    update.add_argument("--scopes", help='every scope it understands, e.g. "mcp:read mcp:write"')
    _describe_scope(update, "a new description of one of its scopes, shown on the consent page; repeatable")
    update.add_argument(
        "--default-scopes", help="granted when a client asks for none (default: the old ones still offered)"
    )
    remove = action(
        servers,
        "remove",
        help="delete an MCP server; refused while clients or journeys depend on it, unless --force",
        run=remove_mcp_server,
    )
    remove.add_argument("id")
    remove.add_argument(
        "--force", action="store_true", help="end its grants and delete the clients registered at its issuer too"
    )
    trust = action(
        servers,
        "trust-idp",
        help="accept an enterprise identity provider's ID-JAGs for an MCP server (SEP-990, RFC 7523 jwt-bearer)",
        run=trust_identity_provider,
    )
    trust.add_argument("id", help="the MCP server")
    trust.add_argument(
        "--idp", required=True, metavar="ISSUER", help="the IdP's issuer identifier, exactly as its ID-JAGs' iss"
    )
    keys = trust.add_mutually_exclusive_group(required=True)
    keys.add_argument("--jwks-uri", help="where the IdP publishes its public JWK Set (fetched safely, cached)")
    keys.add_argument("--jwks-file", type=Path, help="a JSON file with the IdP's public JWK Set")
    trust.add_argument(
        "--allow-client",
        action="append",
        required=True,
        metavar="CLIENT_ID",
        help="a client here that may present this IdP's ID-JAGs (its client_id claim); repeatable",
    )
    idps = action(servers, "idps", help="list the identity providers MCP servers trust", run=list_identity_providers)
    idps.add_argument("id", nargs="?", help="only this MCP server's")
    distrust = action(
        servers, "distrust-idp", help="stop accepting an identity provider's ID-JAGs", run=distrust_identity_provider
    )
    distrust.add_argument("id", help="the MCP server")
    distrust.add_argument("--idp", required=True, metavar="ISSUER", help="the IdP's issuer identifier")
    repeat_settings(servers, "db")


def _describe_scope(parser: argparse.ArgumentParser, help: str) -> None:
    """``--describe-scope SCOPE=TEXT``, repeatable: what the consent page says a scope lets a client do."""
    parser.add_argument("--describe-scope", action="append", default=[], metavar="SCOPE=TEXT", help=help)


async def add_mcp_server(settings: Settings, args: argparse.Namespace) -> None:
    described = scope_descriptions(args.describe_scope)
    server = await in_unit(
        settings,
        lambda found, tx: found.mcp_servers.add(
            tx,
            server_id=args.id,
            resource=args.resource,
            scopes=args.scopes,
            name=args.name,
            default_scopes=args.default_scopes,
            version=args.version,
            scope_descriptions=described,
        ),
    )
    print(f"added MCP server {server.id}: {server.resource}")
    print(f"  its issuer: {mcp_issuer_url(settings.issuer, server.id)}")


async def list_mcp_servers(settings: Settings, args: argparse.Namespace) -> None:
    servers = await in_unit(settings, lambda found, tx: found.mcp_servers.all(tx))
    if not servers:
        print("no MCP servers yet: add one with `mcp-servers add`")
    for server in servers:
        print(f"{server.id}  {server.resource}")
        issuer = mcp_issuer_url(settings.issuer, server.id)
        print(f"    name {server.name!r}, version {server.version}, issuer {issuer}")
        print(f"    scopes {' '.join(server.scopes)} (default {' '.join(server.default_scopes)})")
        for scope, text in server.scope_descriptions:
            print(f"      {scope}: {text}")
        print(f"    introspection credentials {'set' if server.secret_hash else 'none (`mcp-servers credentials ID`)'}")


async def rotate_mcp_server_secret(settings: Settings, args: argparse.Namespace) -> None:
    """Print a new introspection secret for the MCP server, once: only its digest is kept."""
    secret = await in_unit(settings, lambda found, tx: found.mcp_servers.rotate_secret(tx, args.id))
    issuer = mcp_issuer_url(settings.issuer, args.id)
    print(f"new credentials of MCP server {args.id} (shown once; any previous secret no longer works):")
    print(f"  client_id      {args.id}")
    print(f"  client_secret  {secret}")
    print(f"  introspection  {issuer}{INTROSPECT_PATH} (client_secret_basic or client_secret_post)")


async def update_mcp_server(settings: Settings, args: argparse.Namespace) -> None:
    """Change what is given; every running instance sees it within ``--cache-check-interval`` (``McpServerCache``),
    in its metadata too."""
    changes = {
        "name": args.name,
        "resource": args.resource,
        "scopes": args.scopes,
        "default_scopes": args.default_scopes,
    }
    described = scope_descriptions(args.describe_scope)
    if all(value is None for value in changes.values()) and not described:
        raise ValueError("nothing to change: give --name, --resource, --scopes, --default-scopes or --describe-scope")
    server = await in_unit(
        settings, lambda found, tx: found.mcp_servers.update(tx, args.id, **changes, scope_descriptions=described)
    )
    print(f"updated MCP server {server.id}: {server.resource}")
    print(f"    name {server.name!r}, scopes {' '.join(server.scopes)} (default {' '.join(server.default_scopes)})")


async def remove_mcp_server(settings: Settings, args: argparse.Namespace) -> None:
    removed = await operate(settings, lambda found: found.mcp_server_administration.remove(args.id, force=args.force))
    print(
        f"removed MCP server {args.id}; ended {removed.ended_grants} grant(s),"
        f" deleted {len(removed.deleted_clients)} client(s) registered at its issuer"
    )


async def trust_identity_provider(settings: Settings, args: argparse.Namespace) -> None:
    """Trust (or trust anew, replacing keys and clients) an IdP for one MCP server (docs/decisions/0049)."""
    jwks = read_jwks_file("--jwks-file", args.jwks_file)
    idp = await in_unit(
        settings,
        lambda found, tx: found.mcp_servers.trust_identity_provider(
            tx, mcp_server_id=args.id, issuer=args.idp, client_ids=args.allow_client, jwks_uri=args.jwks_uri, jwks=jwks
        ),
    )
    print(f"MCP server {idp.mcp_server_id} trusts the identity provider {idp.issuer}")
    print(f"  for the clients {' '.join(idp.client_ids)}, at {mcp_issuer_url(settings.issuer, idp.mcp_server_id)}")


async def list_identity_providers(settings: Settings, args: argparse.Namespace) -> None:
    idps = await in_unit(settings, lambda found, tx: found.mcp_servers.trusted_identity_providers(tx, args.id))
    if not idps:
        print("no trusted identity providers: add one with `mcp-servers trust-idp`")
    for idp in idps:
        keys = idp.jwks_uri or f"{len((idp.jwks or {}).get('keys', []))} key(s) given"
        print(f"{idp.mcp_server_id}  {idp.issuer}")
        print(f"    keys {keys}; clients {' '.join(idp.client_ids)}")


async def distrust_identity_provider(settings: Settings, args: argparse.Namespace) -> None:
    await in_unit(settings, lambda found, tx: found.mcp_servers.distrust_identity_provider(tx, args.id, args.idp))
    print(f"MCP server {args.id} no longer accepts ID-JAGs of {args.idp}; tokens issued live until they expire")
