"""The command line: run the server, and manage users, MCP servers, journeys and clients.

One module per command group; ``shared.py`` holds what they share.

::

    python -m authorization_server [--host H] [--port P] [--db PATH] [--demo] ...   run the server (serve.py)
    python -m authorization_server --config as.toml --print-config                  the effective settings, as TOML
    python -m authorization_server users add NAME                                   add a user (asks for the password)
    python -m authorization_server users list                                       name, id, source, enabled, created
    python -m authorization_server users disable NAME | enable NAME                 refuse or allow its sign-in
    python -m authorization_server users reset-password NAME                        new password; ends sessions
    python -m authorization_server users remove NAME                                ends its grants, sessions, consents
    python -m authorization_server identity-providers add --name NAME --issuer URL --client-id ID
        (--client-secret-env VAR | --token-endpoint-auth-method private_key_jwt) [--scopes "openid email profile"]
        [--allowed-domains "example.com"] [--claim-rules "groups=mcp-users"]       sign-in through OpenID Connect
    python -m authorization_server identity-providers list | remove NAME
    python -m authorization_server mcp-servers add --id ID --resource URL --scopes "a b"
    python -m authorization_server mcp-servers list
    python -m authorization_server mcp-servers credentials ID                       its introspection secret, once
    python -m authorization_server mcp-servers update ID [--name N] [--resource URL] [--scopes "a b"]
        [--default-scopes "a"]
    python -m authorization_server mcp-servers remove ID [--force]                  refused if clients depend
    python -m authorization_server mcp-servers trust-idp ID --idp ISSUER (--jwks-uri URL | --jwks-file F)
        --allow-client CLIENT_ID                                                    accept its ID-JAGs (SEP-990)
    python -m authorization_server mcp-servers idps [ID] | distrust-idp ID --idp ISSUER
    python -m authorization_server workload-issuers add --name NAME --issuer URL [--jwks-uri URL | --jwks-file F]
        [--audience AUD] --rule 'CLAIM=VALUE[,...] -> MCP_SERVER_ID [scopes=A B]'   workloads' JWTs (SEP-1933)
    python -m authorization_server workload-issuers list | remove NAME
    python -m authorization_server connections add --mcp-server ID --name NAME --client-id ID --scopes "a b"
        (--issuer URL | --authorization-endpoint URL --token-endpoint URL) [--client-secret-env VAR] [--resource URL]
    python -m authorization_server connections list [--mcp-server ID]
    python -m authorization_server connections remove ID
    python -m authorization_server journeys list [--limit N]
    python -m authorization_server journeys show ID
    python -m authorization_server keys rotate [--signing-alg ALG]
    python -m authorization_server keys list
    python -m authorization_server clients list
    python -m authorization_server clients add --name NAME --redirect-uri URI [--mcp-server ID]   a confidential client
    python -m authorization_server clients cleanup [--client-idle-ttl SECONDS]      delete idle clients now
    python -m authorization_server clients approve CLIENT_ID --mcp-server ID[:SCOPES] | withdraw CLIENT_ID
    python -m authorization_server clients block CLIENT_ID | unblock CLIENT_ID      refuse it everywhere, or not
    python -m authorization_server clients allow-id-jag CLIENT_ID --audience ISSUER --audience-client-id ID
        | withdraw-id-jag CLIENT_ID --audience ISSUER                               as an IdP (SEP-990)
    python -m authorization_server clients delete CLIENT_ID                         as RFC 7592 DELETE
    python -m authorization_server db upgrade [--db DB]                             apply the migrations, then stop
    python -m authorization_server db copy --from sqlite:///PATH --to postgresql://...   into an empty database
"""

import argparse
import asyncio

from mcp_authz.authorization_server import settings as settings_module
from mcp_authz.authorization_server.cli import (
    clients,
    connections,
    identity_providers,
    journeys,
    keys,
    mcp_servers,
    storage,
    users,
    workload_issuers,
)
from mcp_authz.authorization_server.cli.serve import serve
from mcp_authz.authorization_server.cli.shared import Command
from mcp_authz.authorization_server.db import DatabaseUnavailable


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "run", None)
    try:
        settings = settings_module.load(args)
        if args.print_config:
            print(settings_module.to_toml(settings), end="")
            return
        if command is None:  # the server signs tokens: it needs the key that opens its signing keys
            settings.require_key_encryption_key()
            asyncio.run(keys.check_keys_open(settings))
    except ValueError as exc:
        parser.exit(2, f"authorization_server: {exc}\n")
    except DatabaseUnavailable as exc:
        parser.exit(1, f"authorization_server: {exc.description}: {exc.detail}\n")
    if command is None:
        serve(settings)
        return
    try:
        asyncio.run(command(settings, args))
    except ValueError as exc:
        parser.exit(1, f"authorization_server: {exc}\n")
    except DatabaseUnavailable as exc:
        parser.exit(1, f"authorization_server: {exc.description}: {exc.detail}\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m authorization_server",
        description="An OAuth 2.1 authorization server for MCP. Without a command, it runs the server.",
    )
    settings_module.add_loading_arguments(parser)
    settings_module.add_arguments(parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    # In this order in --help.
    groups = (users, identity_providers, mcp_servers, workload_issuers, connections, journeys, keys, clients, storage)
    for group in groups:
        group.add_commands(commands)
    return parser
