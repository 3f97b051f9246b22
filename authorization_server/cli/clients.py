"""``clients list | add | approve | withdraw | cleanup | block | unblock | delete``: registered clients (RFC 7591),
the machine clients the operator approves for the client_credentials grant (OAuth 2.1 §4.2,
docs/decisions/0018), deleting the idle ones (RFC 7591 §5), blocking one (docs/decisions/0025), and
deleting one as its own RFC 7592 §2.3 DELETE would (issue 17)."""

import argparse
import json
from pathlib import Path

from mcp_authz.authorization_server import settings as settings_module
from mcp_authz.authorization_server.cli.shared import (
    Actions,
    action,
    group,
    in_unit,
    operate,
    repeat_settings,
    services,
)
from mcp_authz.authorization_server.clients.entities import Client, IdJagAudience, MachineApproval
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.flow.registration.operator import AUTH_METHODS, NewClient
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.shared.scopes import format_scope

MCP_SERVER_HELP = (
    "ID or ID:SCOPE,SCOPE (repeatable): with --grant client_credentials, an MCP server the client may get"
    " machine tokens for, and the scopes (default: the server's default scopes)"
)


def add_commands(commands: Actions) -> None:
    clients = group(commands, "clients", help="registered clients")
    action(clients, "list", help="every registered client and when it was last used", run=list_clients)
    add = action(clients, "add", help="pre-register a confidential client; prints its secret once", run=add_client)
    add.add_argument("--name", required=True, help="the client's name, shown on the consent page")
    add.add_argument(
        "--redirect-uri", action="append", help="its redirect URI, matched exactly (repeatable; authorization_code)"
    )
    add.add_argument(
        "--grant",
        action="append",
        choices=("authorization_code", "client_credentials"),
        help="authorization_code (the default, with refresh_token): a user approves; client_credentials: a machine"
        " client, for the MCP servers named with --mcp-server (repeatable)",
    )
    add.add_argument(
        "--mcp-server",
        action="append",
        metavar="ID[:SCOPES]",
        help="register at this MCP server's issuer (default: the root issuer; the root when several are named). "
        + MCP_SERVER_HELP,
    )
    add.add_argument(
        "--auth-method",
        choices=AUTH_METHODS,
        default="client_secret_basic",
        help="how it authenticates at /token; private_key_jwt needs --jwks-file or --jwks-uri",
    )
    keys = add.add_mutually_exclusive_group()
    keys.add_argument("--jwks-file", type=Path, help="a JSON file with its public JWK Set (private_key_jwt)")
    keys.add_argument("--jwks-uri", help="where it publishes its public JWK Set (private_key_jwt)")
    settings_module.add_arguments(add, "issuer", default=argparse.SUPPRESS)
    approve = action(
        clients,
        "approve",
        help="let a client use the client_credentials grant for MCP servers (OAuth 2.1 §4.2)",
        run=approve_client,
    )
    approve.add_argument("client_id")
    approve.add_argument("--mcp-server", action="append", required=True, metavar="ID[:SCOPES]", help=MCP_SERVER_HELP)
    settings_module.add_arguments(approve, "issuer", default=argparse.SUPPRESS)
    withdraw = action(
        clients,
        "withdraw",
        help="take back a client's client_credentials approval and end its machine grants",
        run=withdraw_client,
    )
    withdraw.add_argument("client_id")
    withdraw.add_argument(
        "--mcp-server", action="append", metavar="ID", help="only for this MCP server (repeatable; default: all)"
    )
    allow_id_jag = action(
        clients,
        "allow-id-jag",
        help="this server as an enterprise IdP: let a client get ID-JAGs for another authorization server (SEP-990)",
        run=allow_id_jag_client,
    )
    allow_id_jag.add_argument("client_id")
    allow_id_jag.add_argument(
        "--audience", required=True, metavar="ISSUER", help="the authorization server's issuer (the ID-JAG's aud)"
    )
    allow_id_jag.add_argument(
        "--audience-client-id", required=True, metavar="ID", help="the client's id there (the ID-JAG's client_id)"
    )
    withdraw_id_jag = action(
        clients,
        "withdraw-id-jag",
        help="stop issuing a client ID-JAGs for an authorization server",
        run=withdraw_id_jag_client,
    )
    withdraw_id_jag.add_argument("client_id")
    withdraw_id_jag.add_argument(
        "--audience", required=True, metavar="ISSUER", help="the authorization server's issuer"
    )
    id_jags = action(
        clients,
        "id-jag-audiences",
        help="the authorization servers each client may get ID-JAGs for (allow-id-jag), and as which client there",
        run=list_id_jag_audiences,
    )
    id_jags.add_argument("client_id", nargs="?", help="only this client's (default: every client's)")
    cleanup = action(clients, "cleanup", help="delete the idle clients without live grants now", run=cleanup_clients)
    settings_module.add_arguments(cleanup, "client_idle_ttl", default=argparse.SUPPRESS)
    block = action(clients, "block", help="refuse a client everywhere and end every grant it holds", run=block_client)
    block.add_argument("client_id")
    unblock = action(
        clients, "unblock", help="let a blocked client be used again; its grants stay ended", run=unblock_client
    )
    unblock.add_argument("client_id")
    delete = action(
        clients, "delete", help="end a client's grants and delete it, as RFC 7592 DELETE does", run=delete_client
    )
    delete.add_argument("client_id")
    repeat_settings(clients, "db")


async def list_clients(settings: Settings, args: argparse.Namespace) -> None:
    async with services(settings) as (db, found):
        clients = found.clients

        async def listed(tx: Transaction) -> list[tuple[Client, list[MachineApproval]]]:
            return [(client, await clients.machine_approvals(tx, client.client_id)) for client in await clients.all(tx)]

        listing = await db.run(listed)
    if not listing:
        print("no clients yet")
    for client, approvals in listing:
        blocked = "  BLOCKED" if client.blocked else ""
        print(f"{client.client_id}  {client.display_name!r}  issuer {client.issuer}{blocked}")
        if client.is_workload:
            print(f"    workload of {client.workload_issuer}, subject {client.workload_subject} (SEP-1933)")
        print(f"    {client.token_endpoint_auth_method}, grants {' '.join(client.grant_types)}")
        print(f"    registered {client.created_at:%Y-%m-%d %H:%M}, last used {client.last_used_at:%Y-%m-%d %H:%M} UTC")
        print(f"    redirect URIs {' '.join(client.redirect_uris)}")
        for approval in approvals:
            print(f"    client_credentials for {approval.mcp_server_id}: {format_scope(approval.scopes)}")


async def add_client(settings: Settings, args: argparse.Namespace) -> None:
    """Pre-register a confidential client (RFC 7591 §1), through ``OperatorRegistration`` as the console does; a
    machine client (``--grant client_credentials``) with the approval of each ``--mcp-server`` (docs/decisions/0018).
    The secret is printed once; only its digest is kept."""
    new = NewClient(
        name=args.name,
        redirect_uris=args.redirect_uri or (),
        grants=args.grant or ("authorization_code",),
        mcp_servers=args.mcp_server or (),
        auth_method=args.auth_method,
        jwks=_jwks(args.jwks_file) if args.jwks_file else None,
        jwks_uri=args.jwks_uri,
    )
    added = await operate(settings, lambda found: found.operator_registration.add(new))
    registration = added.registration
    print(f"registered client {args.name!r} at issuer {added.issuer} (the secret is shown once):")
    print(f"  client_id      {registration.client.client_id}")
    if registration.secret is not None:
        print(f"  client_secret  {registration.secret}")
    for approval in added.approved:
        print(f"  client_credentials for {approval.mcp_server_id}: {format_scope(approval.scopes)}")


async def approve_client(settings: Settings, args: argparse.Namespace) -> None:
    """Let an existing client use the client_credentials grant for MCP servers (OAuth 2.1 §4.2, docs/decisions/0018),
    through ``OperatorRegistration.approve`` as the console does."""
    approved = await operate(
        settings, lambda found: found.operator_registration.approve(args.client_id, args.mcp_server)
    )
    for approval in approved:
        print(
            f"approved client {args.client_id} for client_credentials at {approval.mcp_server_id}:"
            f" {format_scope(approval.scopes)}"
        )


async def allow_id_jag_client(settings: Settings, args: argparse.Namespace) -> None:
    """Let a confidential client exchange its users' access tokens for ID-JAGs for ``--audience`` (decision 0049)."""
    async with services(settings) as (db, found):

        async def allow(tx: Transaction) -> IdJagAudience:
            client = await found.clients.get(tx, args.client_id)
            if client is None:
                raise ValueError(f"no client with id {args.client_id!r}")
            return await found.clients.allow_id_jag(tx, client, args.audience, args.audience_client_id)

        allowed = await db.run(allow)
    print(f"client {allowed.client_id} may get ID-JAGs for {allowed.audience}, as client {allowed.audience_client_id}")


async def withdraw_id_jag_client(settings: Settings, args: argparse.Namespace) -> None:
    async with services(settings) as (db, found):
        await db.run(lambda tx: found.clients.withdraw_id_jag(tx, args.client_id, args.audience))
    print(f"client {args.client_id} gets no more ID-JAGs for {args.audience}; those issued expire within minutes")


async def list_id_jag_audiences(settings: Settings, args: argparse.Namespace) -> None:
    """What ``allow-id-jag`` allowed (SEP-990, decision 0049): one line per client and audience."""
    allowed = await in_unit(settings, lambda found, tx: found.clients.id_jag_audiences(tx, args.client_id))
    if not allowed:
        who = f"client {args.client_id} may get no ID-JAGs" if args.client_id else "no client may get ID-JAGs"
        print(f"{who} for another authorization server: allow them with `clients allow-id-jag`")
    for audience in allowed:
        print(
            f"{audience.client_id}  {audience.audience}  as client {audience.audience_client_id}"
            f"  (since {audience.created_at:%Y-%m-%d %H:%M} UTC)"
        )


async def withdraw_client(settings: Settings, args: argparse.Namespace) -> None:
    """Take back a client's client_credentials approval and end its machine grants (their journeys), through
    ``OperatorRegistration.withdraw`` as the console does."""
    withdrawn, ended = await operate(
        settings, lambda found: found.operator_registration.withdraw(args.client_id, args.mcp_server)
    )
    servers = ", ".join(withdrawn) or "no MCP server"
    print(f"withdrew client {args.client_id}'s client_credentials approval for {servers}; ended {ended} grant(s)")


def _jwks(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--jwks-file {path}: {exc}") from None


async def cleanup_clients(settings: Settings, args: argparse.Namespace) -> None:
    deleted = await operate(settings, lambda found: found.client_expiry.cleanup())
    print(f"deleted {len(deleted)} client(s) idle for more than {settings.client_idle_ttl} s without live grants")
    for client_id in deleted:
        print(f"    {client_id}")


async def block_client(settings: Settings, args: argparse.Namespace) -> None:
    """Block a client and end every grant it holds, as its own RFC 7592 §2.3 deletion would
    (``ClientManagementService.block``, docs/decisions/0025).

    A running server reads the client's row in each request, so it refuses the client at once.
    """
    ended = await operate(settings, lambda found: found.client_management.block(args.client_id))
    print(f"blocked client {args.client_id}; ended {ended} grant(s)")


async def unblock_client(settings: Settings, args: argparse.Namespace) -> None:
    await operate(settings, lambda found: found.client_management.unblock(args.client_id))
    print(f"unblocked client {args.client_id}; the grants ended when it was blocked stay ended")


async def delete_client(settings: Settings, args: argparse.Namespace) -> None:
    """End every grant of the client, then delete it with its rows, by the rule of its own RFC 7592 §2.3
    DELETE (``ClientManagementService.delete_by_operator``). A deleted client gets ``invalid_client``."""
    ended = await operate(settings, lambda found: found.client_management.delete_by_operator(args.client_id))
    print(f"deleted client {args.client_id}; ended {ended} grant(s)")
