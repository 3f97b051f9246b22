"""``workload-issuers add | list | remove``: the issuers of workload JWTs this server accepts at the jwt-bearer
grant, and the rules giving their workloads MCP servers and scopes (workload identity federation, MCP SEP-1933,
a draft; docs/decisions/0051)."""

import argparse
from pathlib import Path

from mcp_authz.authorization_server.cli.shared import Actions, action, group, in_unit, read_jwks_file, repeat_settings
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.services import Operations
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.authorization_server.workload_issuers.entities import WorkloadIssuer
from mcp_authz.authorization_server.workload_issuers.service import parse_rule


def add_commands(commands: Actions) -> None:
    issuers = group(
        commands,
        "workload-issuers",
        help="manage the issuers of workload JWTs accepted for tokens without registration (SEP-1933, a draft)",
    )
    add = action(
        issuers,
        "add",
        help="trust an issuer of workload JWTs (a CI platform, a Kubernetes cluster) under rules naming MCP servers",
        run=add_issuer,
    )
    add.add_argument("--name", required=True, help="a slug for it, shown in journeys and client names, e.g. github")
    # Not args.issuer: that is this server's own issuer setting.
    add.add_argument(
        "--issuer",
        dest="workload_issuer",
        metavar="URL",
        required=True,
        help="its issuer identifier, exactly as its JWTs' iss",
    )
    keys = add.add_mutually_exclusive_group()
    keys.add_argument(
        "--jwks-uri", help="where it publishes its public JWK Set (default: found by OpenID Connect Discovery)"
    )
    keys.add_argument("--jwks-file", type=Path, help="a JSON file with its public JWK Set")
    add.add_argument(
        "--audience",
        action="append",
        default=[],
        help="an aud its JWTs may carry besides this server's issuer and token endpoint; repeatable",
    )
    add.add_argument(
        "--rule",
        action="append",
        required=True,
        help="'CLAIM=VALUE[,CLAIM=VALUE] -> MCP_SERVER_ID [scopes=A B]' (or '* -> ...' for every workload): "
        "workloads whose claims all hold get that MCP server, with at most those scopes (default: its default "
        "scopes); repeatable, every matching rule counts",
    )
    action(issuers, "list", help="the trusted workload issuers and their rules", run=list_issuers)
    remove = action(
        issuers,
        "remove",
        help="stop accepting an issuer's JWTs; tokens issued live until they expire",
        run=remove_issuer,
    )
    remove.add_argument("name")
    repeat_settings(issuers, "db")


async def add_issuer(settings: Settings, args: argparse.Namespace) -> None:
    rules = [parse_rule(text) for text in args.rule]
    jwks = read_jwks_file("--jwks-file", args.jwks_file)

    async def add(found: Operations, tx: Transaction) -> WorkloadIssuer:
        # The service checks that each rule's MCP server exists and offers its scopes.
        return await found.workload_issuers.add(
            tx,
            name=args.name,
            issuer=args.workload_issuer,
            rules=rules,
            audiences=args.audience,
            jwks_uri=args.jwks_uri,
            jwks=jwks,
        )

    added = await in_unit(settings, add)
    print(f"trusted workload issuer {added.name}: {added.issuer}")
    _describe(added)


async def list_issuers(settings: Settings, args: argparse.Namespace) -> None:
    issuers = await in_unit(settings, lambda found, tx: found.workload_issuers.all(tx))
    if not issuers:
        print("no workload issuers: add one with `workload-issuers add`")
    for trusted in issuers:
        print(f"{trusted.name}  {trusted.issuer}")
        _describe(trusted)


async def remove_issuer(settings: Settings, args: argparse.Namespace) -> None:
    await in_unit(settings, lambda found, tx: found.workload_issuers.remove(tx, args.name))
    print(f"removed workload issuer {args.name}; tokens issued to its workloads live until they expire")


def _describe(trusted: WorkloadIssuer) -> None:
    if trusted.jwks is not None:
        keys = f"{len(trusted.jwks.get('keys', []))} key(s) given"
    else:
        keys = trusted.jwks_uri or "by OpenID Connect Discovery"
    audiences = " ".join(trusted.audiences) or "none besides this server's issuer and token endpoint"
    print(f"    keys {keys}; extra audiences {audiences}")
    for rule in trusted.rules:
        print(f"    rule {rule}")
