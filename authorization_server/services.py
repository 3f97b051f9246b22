"""The service graph of one running server, built once at start-up and shared by every request."""

import logging
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import Scope

from mcp_authz.authorization_server.account.connected_apps import ConnectedAppsService
from mcp_authz.authorization_server.account.home import HomeService
from mcp_authz.authorization_server.accounts.entities import User
from mcp_authz.authorization_server.accounts.lockout import LoginLockout
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.admin.auth import AdminGuard
from mcp_authz.authorization_server.admin.console.clients import ClientConsole
from mcp_authz.authorization_server.admin.console.identity_providers import IdentityProviderConsole
from mcp_authz.authorization_server.admin.console.journeys import JourneyConsole
from mcp_authz.authorization_server.admin.console.keys import KeyConsole
from mcp_authz.authorization_server.admin.console.mcp_servers import McpServerConsole
from mcp_authz.authorization_server.admin.console.users import UserConsole
from mcp_authz.authorization_server.admin.console.workload_issuers import WorkloadIssuerConsole
from mcp_authz.authorization_server.admin.timelines import Timelines
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.consents.service import ConsentService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.encryption import Sealer, local_key, new_key, parse_key
from mcp_authz.authorization_server.flow.authorization.client_directory import ClientDirectory
from mcp_authz.authorization_server.flow.authorization.federation import FederatedSignIn
from mcp_authz.authorization_server.flow.authorization.interactions import InteractionService
from mcp_authz.authorization_server.flow.authorization.openid import OpenIdProviders
from mcp_authz.authorization_server.flow.discovery.issuers import IssuerService
from mcp_authz.authorization_server.flow.downstream.authorization import DownstreamAuthorization
from mcp_authz.authorization_server.flow.downstream.providers import Providers
from mcp_authz.authorization_server.flow.introspection.service import IntrospectionService
from mcp_authz.authorization_server.flow.registration.management import ClientManagementService
from mcp_authz.authorization_server.flow.registration.operator import OperatorRegistration
from mcp_authz.authorization_server.flow.registration.service import RegistrationService
from mcp_authz.authorization_server.flow.revocation.administration import McpServerAdministration, UserAdministration
from mcp_authz.authorization_server.flow.revocation.service import RevocationService
from mcp_authz.authorization_server.flow.token.dpop import DpopProofs
from mcp_authz.authorization_server.flow.token.grants.context import GrantContext
from mcp_authz.authorization_server.flow.token.grants.id_jag_issuance import IdJagIssuance
from mcp_authz.authorization_server.flow.token.grants.jwt_bearer import JwtBearerGrant
from mcp_authz.authorization_server.flow.token.grants.token_exchange import TokenExchange
from mcp_authz.authorization_server.flow.token.grants.workload import WorkloadGrant
from mcp_authz.authorization_server.flow.token.service import GrantService
from mcp_authz.authorization_server.health.readiness import Readiness
from mcp_authz.authorization_server.identity_providers.service import IdentityProviderService
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.maintenance.clients import ClientExpiry
from mcp_authz.authorization_server.maintenance.journeys import JourneyExpiry
from mcp_authz.authorization_server.maintenance.schedule import Maintenance
from mcp_authz.authorization_server.maintenance.shared_state import SharedStateUpkeep
from mcp_authz.authorization_server.mcp_servers.cache import McpServerCache
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.metrics import Metrics
from mcp_authz.authorization_server.routes import CALLBACK_PATH
from mcp_authz.authorization_server.safe_fetch import FetchPolicy, SafeFetcher
from mcp_authz.authorization_server.settings import DEMO_MCP_SERVER_ID, Settings
from mcp_authz.authorization_server.tokens.keys import Keys, ensure_current
from mcp_authz.authorization_server.tokens.service import TokenService
from mcp_authz.authorization_server.web.browser import Cookies
from mcp_authz.authorization_server.web.rate_limits import FetchLimit, RateLimits
from mcp_authz.authorization_server.workload_issuers.service import WorkloadIssuerService
from mcp_authz.shared.dpop import Nonces

log = logging.getLogger("authorization_server")

DEMO_SCOPES = "mcp:read mcp:write"
DEMO_DEFAULT_SCOPES = "mcp:read"
#: What the demo MCP server's scopes let a client do, in the consent page's words (issue 17).
DEMO_SCOPE_DESCRIPTIONS = {"mcp:read": "Read your notes and who you are", "mcp:write": "Add notes in your name"}
DEMO_USERNAME = "demo"


@dataclass(frozen=True)
class Services:
    settings: Settings
    cookies: Cookies
    accounts: AccountService
    mcp_servers: McpServerService
    issuers: IssuerService
    journeys: JourneyService
    tokens: TokenService
    registration: RegistrationService
    client_management: ClientManagementService
    interactions: InteractionService
    grants: GrantService
    revocation: RevocationService
    connected_apps: ConnectedAppsService
    home: HomeService
    readiness: Readiness
    introspection: IntrospectionService
    limits: RateLimits
    client_expiry: ClientExpiry
    maintenance: Maintenance
    timelines: Timelines
    downstream: DownstreamAuthorization
    #: Sign-in through an identity provider (issue 16).
    federation: FederatedSignIn
    admin: AdminGuard
    metrics: Metrics
    #: The operator's console's use cases (issue 17), over the command line's services.
    console: ClientConsole
    mcp_server_console: McpServerConsole
    user_console: UserConsole
    journey_console: JourneyConsole
    key_console: KeyConsole
    identity_provider_console: IdentityProviderConsole
    workload_issuer_console: WorkloadIssuerConsole


def services(request: Request) -> Services:
    """The services of the app serving ``request`` (Starlette lifespan state)."""
    return services_in(request.scope)


def services_in(scope: Scope) -> Services:
    """The same for a plain ASGI endpoint, which has the scope and no ``Request``."""
    found: Services = scope["state"]["services"]
    return found


def fetch_policy(settings: Settings) -> FetchPolicy:
    """The safe fetcher's rules by the settings: client metadata documents, JWK Sets, identity providers' documents."""
    return FetchPolicy(
        allow_loopback=settings.allow_loopback_client_metadata,
        timeout=settings.client_metadata_timeout,
        cache_min=settings.client_metadata_cache_min,
        cache_max=settings.client_metadata_cache_max,
        failure_ttl=settings.client_metadata_failure_cache,
        max_fetches=settings.client_metadata_fetches,
        max_fetches_per_host=settings.client_metadata_fetches_per_host,
    )


def client_directory(
    settings: Settings, db: Database, clients: ClientService, metrics: Metrics | None = None
) -> ClientDirectory:
    """Who a ``client_id`` is, fetching metadata documents and JWK Sets by the settings' rules (docs/decisions/0015).

    Each fetch that goes out is charged to the address of the request that caused it (``FetchLimit``).
    """
    fetcher = safe_fetcher(settings, metrics)
    return ClientDirectory(
        db, clients, fetcher, root_issuer=settings.issuer, allow_loopback=settings.allow_loopback_client_metadata
    )


def safe_fetcher(settings: Settings, metrics: Metrics | None = None) -> SafeFetcher:
    """A fetcher of URLs by the settings' rules (``safe_fetch.py``): client metadata, client and IdP JWK Sets."""
    return SafeFetcher(
        fetch_policy(settings),
        before_fetch=FetchLimit(
            settings.rate("rate_limit_fetch"), refused=metrics.rate_limited if metrics else lambda name: None
        ),
        fetched=metrics.fetched if metrics else lambda result: None,
    )


def identity_provider_service(settings: Settings, key_sealer: Sealer | None) -> IdentityProviderService:
    """The identity providers people sign in with (issue 16); ``key_sealer`` seals a ``private_key_jwt`` provider's
    key as it seals the signing keys (the command line gives it only to ``identity-providers add`` of such a one)."""
    return IdentityProviderService(key_sealer, sign_in_ttl=settings.interaction_ttl)


def openid_providers(settings: Settings, metrics: Metrics | None = None) -> OpenIdProviders:
    """Providers' discovery documents and JWK Sets (OIDC Discovery §4) through a fetcher of their own, by the
    settings' rules: what they cost is not charged to a client's address. The server's and ``identity-providers
    add``'s."""
    if metrics is None:
        return OpenIdProviders(SafeFetcher(fetch_policy(settings)))
    return OpenIdProviders(SafeFetcher(fetch_policy(settings), fetched=metrics.fetched))


def token_service(settings: Settings, db: Database, sealer: Sealer | None = None) -> TokenService:
    """Access and refresh tokens by the settings' lifetimes, signed with the database's keys (RFC 9068).

    ``sealer`` opens the stored signing keys (``signing_key_sealer``); without it nothing can be signed.
    """
    return TokenService(
        Keys(db, settings.key_lifetime_after_rotation, sealer, settings.cache_check_interval),
        access_token_ttl=settings.access_token_ttl,
        refresh_token_ttl=settings.refresh_token_ttl,
        refresh_grace_confidential=settings.refresh_grace_confidential,
        refresh_grace_public=settings.refresh_grace_public,
        grace_sealer=sealer,
    )


@dataclass(frozen=True)
class Operations:
    """What the server and the command line share: the domain services and the use cases without HTTP.

    The server builds its :class:`Services` around them (:func:`build_services`); the command line
    uses them alone (:func:`command_line_services`), so that both register, block and clean up by
    the same rules.
    """

    settings: Settings
    accounts: AccountService
    clients: ClientService
    consents: ConsentService
    mcp_servers: McpServerService
    mcp_server_cache: McpServerCache
    issuers: IssuerService
    journeys: JourneyService
    tokens: TokenService
    directory: ClientDirectory
    registration: RegistrationService
    #: ``clients add`` and the console's "Add a client" (RFC 7591 §1 pre-registration).
    operator_registration: OperatorRegistration
    revocation: RevocationService
    client_expiry: ClientExpiry
    client_management: ClientManagementService
    journey_expiry: JourneyExpiry
    timelines: Timelines
    user_administration: UserAdministration
    mcp_server_administration: McpServerAdministration
    identity_providers: IdentityProviderService
    workload_issuers: WorkloadIssuerService


def operations(
    settings: Settings, db: Database, key_sealer: Sealer | None, metrics: Metrics | None = None
) -> Operations:
    """The one service graph (without the HTTP parts); ``key_sealer`` opens the signing keys, if anything signs.

    ``metrics``: the server's counters (the command line has none).
    """
    accounts = AccountService(settings.session_ttl)
    clients = ClientService()
    mcp_server_cache = McpServerCache(db, settings.cache_check_interval)
    mcp_servers = McpServerService(mcp_server_cache)
    issuers = IssuerService(settings, mcp_server_cache)
    directory = client_directory(settings, db, clients, metrics)
    journeys = JourneyService(
        mcp_servers,
        code_ttl=settings.code_ttl,
        interaction_ttl=settings.interaction_ttl,
        sealer=downstream_sealer(settings),
    )
    tokens = token_service(settings, db, key_sealer)
    revocation = RevocationService(db, directory, journeys, tokens)
    registration = RegistrationService(
        db,
        issuers=issuers,
        clients=clients,
        journeys=journeys,
        allow_loopback_urls=settings.allow_loopback_client_metadata,
    )
    client_expiry = ClientExpiry(
        db, clients=clients, journeys=journeys, tokens=tokens, idle_ttl=settings.client_idle_ttl
    )
    return Operations(
        settings=settings,
        accounts=accounts,
        clients=clients,
        consents=ConsentService(),
        mcp_servers=mcp_servers,
        mcp_server_cache=mcp_server_cache,
        issuers=issuers,
        journeys=journeys,
        tokens=tokens,
        directory=directory,
        registration=registration,
        operator_registration=OperatorRegistration(
            db,
            issuers=issuers,
            clients=clients,
            mcp_servers=mcp_servers,
            registration=registration,
            journeys=journeys,
            revocation=revocation,
        ),
        revocation=revocation,
        client_expiry=client_expiry,
        client_management=ClientManagementService(
            db,
            issuers=issuers,
            clients=clients,
            registration=registration,
            revocation=revocation,
            expiry=client_expiry,
        ),
        journey_expiry=JourneyExpiry(db, journeys=journeys, retention=settings.journey_retention),
        timelines=Timelines(db, journeys=journeys, clients=clients, mcp_servers=mcp_servers),
        user_administration=UserAdministration(db, accounts=accounts, journeys=journeys, revocation=revocation),
        mcp_server_administration=McpServerAdministration(
            db,
            mcp_servers=mcp_servers,
            clients=clients,
            journeys=journeys,
            revocation=revocation,
            client_expiry=client_expiry,
        ),
        identity_providers=identity_provider_service(settings, key_sealer),
        workload_issuers=WorkloadIssuerService(mcp_servers),
    )


def command_line_services(settings: Settings, db: Database) -> Operations:
    """The command line's services: the server's graph; nothing signs tokens there (``keys`` opens the keys itself)."""
    return operations(settings, db, key_sealer=None)


async def build_services(settings: Settings, db: Database, metrics: Metrics | None = None) -> Services:
    """The server's service graph; ``metrics`` counts what it does (the application's, served by ``--metrics-port``)."""
    if settings.demo and not settings.downstream_token_key:
        log.warning(
            "demo mode: downstream tokens are sealed with a key made for this process; they cannot be read"
            " after a restart. Set AS_DOWNSTREAM_TOKEN_KEY to keep them."
        )
    key_sealer = signing_key_sealer(settings)
    # Seals keys stored in clear by older versions (docs/decisions/0027); the first start makes the first key.
    await db.run(lambda tx: ensure_current(tx, settings.signing_alg, key_sealer, settings.key_activation_delay))
    metrics = metrics or Metrics()
    db.observe(metrics.database_event)  # journeys ended, once their unit committed; units retried
    core = operations(settings, db, key_sealer, metrics)
    providers = Providers()
    # One fetcher for the JWK Sets of assertion issuers (ID-JAG IdPs, workload issuers), caching them for both.
    assertion_keys = safe_fetcher(settings, metrics)
    grant_context = GrantContext(
        issuers=core.issuers,
        clients=core.clients,
        consents=core.consents,
        journeys=core.journeys,
        tokens=core.tokens,
    )
    downstream = DownstreamAuthorization(
        db,
        journeys=core.journeys,
        mcp_servers=core.mcp_servers,
        providers=providers,
        callback_url=settings.issuer + CALLBACK_PATH,
    )
    demo_user = await _demo(db, core) if settings.demo else None
    connected_apps = ConnectedAppsService(
        db,
        accounts=core.accounts,
        clients=core.clients,
        consents=core.consents,
        journeys=core.journeys,
        mcp_servers=core.mcp_servers,
        revocation=core.revocation,
    )
    if not settings.demo:
        await _warn_if_empty(db, core)
    interactions = InteractionService(
        db,
        accounts=core.accounts,
        lockout=LoginLockout(
            failures=settings.login_lockout_failures,
            window=settings.login_lockout_window,
            duration=settings.login_lockout_duration,
        ),
        clients=core.clients,
        directory=core.directory,
        consents=core.consents,
        issuers=core.issuers,
        journeys=core.journeys,
        mcp_servers=core.mcp_servers,
        downstream=downstream,
        identity_providers=core.identity_providers,
        demo_user=demo_user,
        local_accounts=settings.local_accounts,
    )
    openid = openid_providers(settings, metrics)
    federation = FederatedSignIn(
        db,
        identity_providers=core.identity_providers,
        openid=openid,
        accounts=core.accounts,
        journeys=core.journeys,
        interactions=interactions,
        root_issuer=settings.issuer,
    )
    return Services(
        settings=settings,
        cookies=Cookies(settings),
        accounts=core.accounts,
        mcp_servers=core.mcp_servers,
        issuers=core.issuers,
        journeys=core.journeys,
        tokens=core.tokens,
        registration=core.registration,
        client_management=core.client_management,
        interactions=interactions,
        grants=GrantService(
            db,
            core.directory,
            grant_context,
            TokenExchange(
                db,
                mcp_servers=core.mcp_servers,
                mcp_server_cache=core.mcp_server_cache,
                journeys=core.journeys,
                tokens=core.tokens,
                providers=providers,
            ),
            DpopProofs(Nonces(key_sealer.derive("dpop-nonce")), require_nonce=settings.dpop_nonce),
            issued=metrics.token_issued,
            jwt_bearer=JwtBearerGrant(db, core.directory, grant_context, core.mcp_servers, assertion_keys),
            id_jags=IdJagIssuance(db, core.directory, grant_context),
            workloads=WorkloadGrant(db, grant_context, core.workload_issuers, core.mcp_servers, assertion_keys),
        ),
        revocation=core.revocation,
        connected_apps=connected_apps,
        home=HomeService(db, accounts=core.accounts, mcp_servers=core.mcp_servers, root_issuer=settings.issuer),
        readiness=Readiness(db, core.tokens.keys),
        introspection=IntrospectionService(db, core.mcp_server_cache, core.journeys, core.tokens),
        limits=RateLimits(
            authorize=settings.rate("rate_limit_authorize"),
            register=settings.rate("rate_limit_register"),
            token_client=settings.rate("rate_limit_token_client"),
            token_ip=settings.rate("rate_limit_token_ip"),
            login=settings.rate("rate_limit_login"),
            login_ip=settings.rate("rate_limit_login_ip"),
            revoke=settings.rate("rate_limit_revoke"),
            introspect_failures=settings.rate("rate_limit_introspect_failures"),
            spend=core.clients.spend_request,
            refused=metrics.rate_limited,
        ),
        client_expiry=core.client_expiry,
        maintenance=Maintenance(
            clients=core.client_expiry,
            journeys=core.journey_expiry,
            shared_state=SharedStateUpkeep(
                db,
                accounts=core.accounts,
                clients=core.clients,
                tokens=core.tokens,
                token_client=settings.rate("rate_limit_token_client"),
            ),
        ),
        timelines=core.timelines,
        downstream=downstream,
        federation=federation,
        admin=AdminGuard(settings, db, core.accounts),
        metrics=metrics,
        console=ClientConsole(
            db,
            root_issuer=settings.issuer,
            clients=core.clients,
            mcp_servers=core.mcp_servers,
            revocation=core.revocation,
            management=core.client_management,
            expiry=core.client_expiry,
            operator_registration=core.operator_registration,
        ),
        mcp_server_console=McpServerConsole(
            db,
            root_issuer=settings.issuer,
            mcp_servers=core.mcp_servers,
            administration=core.mcp_server_administration,
        ),
        user_console=UserConsole(
            db,
            accounts=core.accounts,
            administration=core.user_administration,
            connected_apps=connected_apps,
            identity_providers=core.identity_providers,
        ),
        journey_console=JourneyConsole(db, accounts=core.accounts, timelines=core.timelines),
        key_console=KeyConsole(db, keys=core.tokens.keys, alg=settings.signing_alg),
        identity_provider_console=IdentityProviderConsole(
            db, identity_providers=core.identity_providers, openid=openid, redirect_uri=federation.callback_url
        ),
        workload_issuer_console=WorkloadIssuerConsole(db, workload_issuers=core.workload_issuers),
    )


async def _warn_if_empty(db: Database, core: Operations) -> None:
    """Outside demo mode, say at start what is missing before anyone can authorize, and the command to run
    (issue 17). People sign in with a password of this server or through an identity provider (issue 16): no
    user yet is missing only when there is no provider either, and without the password form (``--no-local-
    accounts``) a provider is what is missing."""

    async def counts(tx: Transaction) -> tuple[int, int, int]:
        servers, users = len(await core.mcp_servers.all(tx)), len(await core.accounts.all(tx))
        return servers, users, len(await core.identity_providers.all(tx))

    servers, users, providers = await db.run(counts)
    if not servers:
        log.warning(
            "no MCP server yet: python -m authorization_server mcp-servers add --id ID --resource URL --scopes SCOPES"
        )
    if providers:
        return
    if not core.settings.local_accounts:
        log.warning(
            "no identity provider, and --no-local-accounts hides the password form: nobody can sign in:"
            " python -m authorization_server identity-providers add --name NAME --issuer URL --client-id ID"
        )
    elif not users:
        log.warning("no user yet: python -m authorization_server users add NAME")


async def _demo(db: Database, core: Operations) -> User:
    """Demo mode: the demo MCP server and the demo user, made at the first start."""

    async def demo_server(tx: Transaction) -> None:
        if await core.mcp_servers.get(tx, DEMO_MCP_SERVER_ID) is None:
            await core.mcp_servers.add(
                tx,
                server_id=DEMO_MCP_SERVER_ID,
                name="Demo MCP server",
                resource=core.settings.demo_resource,
                scopes=DEMO_SCOPES,
                default_scopes=DEMO_DEFAULT_SCOPES,
                scope_descriptions=DEMO_SCOPE_DESCRIPTIONS,
            )

    await db.run(demo_server)
    stored = await db.run(lambda tx: core.accounts.stored_password(tx, DEMO_USERNAME))
    if stored is not None:
        return stored.user
    new = await core.accounts.new_user(DEMO_USERNAME, secrets.token_urlsafe(24))
    return await db.run(lambda tx: core.accounts.ensure_user(tx, new))


def signing_key_sealer(settings: Settings) -> Sealer:
    """What seals the token signing keys at rest: the configured key; in demo mode, one kept beside the database.

    ``ValueError`` without a key outside demo mode (``Settings.require_key_encryption_key``).
    """
    settings.require_key_encryption_key()
    if settings.key_encryption_key:
        return Sealer(parse_key(settings.key_encryption_key, "key_encryption_key"))
    path = settings.local_key_file
    log.warning("demo mode: the signing keys are sealed with the key in %s. Set AS_KEY_ENCRYPTION_KEY instead.", path)
    return Sealer(parse_key(local_key(path), f"the key in {path}"))


def downstream_sealer(settings: Settings) -> Sealer | None:
    """What seals downstream tokens at rest: the configured key; in demo mode, one of this process's own."""
    if settings.downstream_token_key:
        return Sealer(parse_key(settings.downstream_token_key))
    if settings.demo:
        return Sealer(parse_key(new_key()))
    return None
