"""``identity-providers add | list | remove``: the OpenID Connect providers people sign in with (issue 16)."""

import argparse
import json

from mcp_authz.authorization_server.cli.shared import Actions, action, group, in_unit, provider_client, repeat_settings
from mcp_authz.authorization_server.flow.authorization.federation import callback_url
from mcp_authz.authorization_server.flow.authorization.openid import check_provider
from mcp_authz.authorization_server.identity_providers.entities import AUTH_METHODS
from mcp_authz.authorization_server.identity_providers.service import parse_claim_rules, parse_domains
from mcp_authz.authorization_server.services import identity_provider_service, openid_providers, signing_key_sealer
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.shared.scopes import parse_scope


def add_commands(commands: Actions) -> None:
    providers = group(
        commands, "identity-providers", help="manage the OpenID Connect providers people may sign in with"
    )
    add = action(
        providers,
        "add",
        help="add a provider, checked by discovery (.well-known/openid-configuration); prints the redirect URI"
        " to register there",
        run=add_provider,
    )
    add.add_argument("--name", required=True, help='a slug: "Continue with NAME" and the callback path, e.g. acme')
    # Not args.issuer: that is this server's own issuer setting.
    add.add_argument("--issuer", dest="provider_issuer", required=True, help="the provider's issuer, exactly")
    provider_client(add)
    add.add_argument(
        "--token-endpoint-auth-method",
        choices=AUTH_METHODS,
        default="client_secret_basic",
        help="how this server authenticates at the provider's token endpoint (default client_secret_basic);"
        " private_key_jwt makes a key, sealed at rest, and prints its public JWK to register there",
    )
    add.add_argument("--scopes", default="openid email profile", help='default "openid email profile"')
    add.add_argument(
        "--allowed-domains", default="", help="only people whose verified email is at these domains, e.g. example.com"
    )
    add.add_argument(
        "--claim-rules", default="", help='claims the ID token must carry, CLAIM=VALUE each, e.g. "groups=mcp-users"'
    )
    add.add_argument(
        "--display-name",
        help='the sign-in button\'s words, "Continue with DISPLAY_NAME" (default: the name in capitals)',
    )
    add.add_argument(
        "--allow-private-network",
        action="store_true",
        help="an in-house provider: its discovery document and JWK Set may be on a private-use address (10/8,"
        " 172.16/12, 192.168/16, fc00::/7), refused otherwise as a server-side request forgery defence;"
        " loopback still needs --allow-loopback-client-metadata",
    )
    action(providers, "list", help="the identity providers and their rules", run=list_providers)
    remove = action(
        providers, "remove", help="delete a provider; refused while users sign in with it", run=remove_provider
    )
    remove.add_argument("name")
    repeat_settings(providers, "db", "key_encryption_key", "allow_loopback_client_metadata")


async def add_provider(settings: Settings, args: argparse.Namespace) -> None:
    sealer = signing_key_sealer(settings) if args.token_endpoint_auth_method == "private_key_jwt" else None
    # The server's own service (services.py), with the sealer a private_key_jwt provider's key needs.
    checker = identity_provider_service(settings, sealer)
    provider = checker.new_provider(
        name=args.name,
        issuer=args.provider_issuer,
        client_id=args.client_id,
        auth_method=args.token_endpoint_auth_method,
        client_secret_env=args.client_secret_env,
        scopes=parse_scope(args.scopes),
        allowed_domains=parse_domains(args.allowed_domains),
        claim_rules=parse_claim_rules(args.claim_rules),
        allow_private_network=args.allow_private_network,
        display_name=args.display_name,
    )
    # OIDC Discovery §4, through the SSRF-safe fetcher, as the server will
    await check_provider(openid_providers(settings), provider)
    await in_unit(settings, lambda found, tx: found.identity_providers.add(tx, provider))
    print(f"added identity provider {provider.name} ({provider.id}): {provider.issuer}")
    print(f"    register this redirect URI there: {callback_url(settings.issuer, provider)}")
    if provider.auth_method == "private_key_jwt":
        print(f"    and this public key (private_key_jwt): {json.dumps(checker.public_jwk(provider))}")


async def list_providers(settings: Settings, args: argparse.Namespace) -> None:
    providers = await in_unit(settings, lambda found, tx: found.identity_providers.all(tx))
    if not providers:
        print("no identity providers yet: add one with `identity-providers add`")
    for provider in providers:
        label = f' "{provider.display_name}"' if provider.display_name else ""
        network = "  (private network allowed)" if provider.allow_private_network else ""
        print(f"{provider.name}{label}  {provider.id}  {provider.issuer}{network}")
        how = f"secret from ${provider.client_secret_env}" if provider.client_secret_env else f"key {provider.key_id}"
        print(f"    client {provider.client_id} ({provider.auth_method}, {how}), scopes {' '.join(provider.scopes)}")
        domains = " ".join(provider.allowed_domains) or "any"
        rules = " ".join(str(rule) for rule in provider.claim_rules) or "none"
        print(f"    allowed domains {domains}; claim rules {rules}")
        print(f"    redirect URI {callback_url(settings.issuer, provider)}")


async def remove_provider(settings: Settings, args: argparse.Namespace) -> None:
    await in_unit(settings, lambda found, tx: found.identity_providers.remove(tx, args.name))
    print(f"removed identity provider {args.name}")
