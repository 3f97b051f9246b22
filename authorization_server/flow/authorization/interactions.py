"""What happens after /authorize accepts a request: sign-in, consent, and the way back to the client.

OAuth 2.1 §3.1: the resource owner is authenticated first, then asked for consent, and only then
is the browser sent back to the client (§4.1.2) with ``code``, ``state`` and ``iss`` (RFC 9207).
Consent is not asked again when the user already approved this client, MCP server and scopes
(``consents/``; per-client consent, MCP security best practices, Confused Deputy).
In demo mode the demo user is signed in and consents automatically, so a headless client can
run the whole flow; the journey records that it happened that way.

The service returns where the browser goes next as a value (:class:`ToInteraction`,
:class:`ToClient`); the endpoints turn it into a 303 or a page.
"""

from dataclasses import dataclass, replace

from mcp_authz.authorization_server.accounts.entities import User
from mcp_authz.authorization_server.accounts.lockout import LoginLockout
from mcp_authz.authorization_server.accounts.lockout import refusal as lockout_refusal
from mcp_authz.authorization_server.accounts.service import AccountService, StoredPassword
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.consents.service import ConsentService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import AccessDenied, AccountDisabled, InvalidRequest, OAuthError
from mcp_authz.authorization_server.flow.authorization.client_directory import ClientDirectory
from mcp_authz.authorization_server.flow.authorization.requests import check_client, check_request
from mcp_authz.authorization_server.flow.discovery.issuers import Issuer, IssuerService
from mcp_authz.authorization_server.flow.downstream.authorization import DownstreamAuthorization
from mcp_authz.authorization_server.identity_providers.service import IdentityProviderService
from mcp_authz.authorization_server.journeys.entities import Journey, SignedIn
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.web.hosts import host_of, with_a_label_host
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.authorization_server.web.redirects import (
    Onward,
    ToClient,
    ToInteraction,
    code_to_client,
    error_to_client,
)
from mcp_authz.shared.loopback import is_loopback_http


class SignInRequired(InvalidRequest):
    """The consent page was reached before the user signed in."""


@dataclass(frozen=True)
class Downstream:
    """Consent is given; the journey's downstream flows run next, after the transaction commits."""

    journey_id: str


@dataclass(frozen=True)
class LoginView:
    client_name: str
    server_name: str
    #: The interaction's user already signed in; the sign-in page has nothing left to do.
    signed_in: bool
    #: The identity providers, (name, words on its button), one "Continue with …" each (issue 16).
    providers: tuple[tuple[str, str], ...] = ()
    #: The password form is shown (``--local-accounts``, on by default).
    local_accounts: bool = True


@dataclass(frozen=True)
class ScopeLine:
    """One scope on the consent page: the MCP server's words for it, the scope itself as detail (issue 17)."""

    scope: str
    #: The operator's description (``mcp-servers add --describe-scope``), else ``None``.
    description: str | None
    #: Approved before for this client and MCP server: a step-up asks only for the others (issue 17).
    approved_before: bool


@dataclass(frozen=True)
class ConsentView:
    """Everything the consent page must show (MCP Security Considerations, Confused Deputy)."""

    client_name: str
    #: As shown: a metadata document URL with its host as an A-label (``web/hosts.py``).
    client_id: str
    #: The host publishing the client's metadata document (CIMD §6.3: show it against phishing); else ``None``.
    #: Hosts are A-labels (punycode), so that a look-alike Unicode host shows as one (issue 11 item 11).
    client_host: str | None
    redirect_host: str
    localhost_only: bool
    server_name: str
    resource: str
    scopes: tuple[ScopeLine, ...]
    username: str
    #: Which authorization server asks: the issuer of the request (RFC 8414 §2, RFC 9207).
    issuer: str
    #: The user approved this client at this MCP server before, and it asks for more now (a step-up).
    step_up: bool


class InteractionService:
    def __init__(
        self,
        db: Database,
        *,
        accounts: AccountService,
        lockout: LoginLockout,
        clients: ClientService,
        directory: ClientDirectory,
        consents: ConsentService,
        issuers: IssuerService,
        journeys: JourneyService,
        mcp_servers: McpServerService,
        downstream: DownstreamAuthorization,
        identity_providers: IdentityProviderService,
        demo_user: User | None,
        local_accounts: bool = True,
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._lockout = lockout
        self._clients = clients
        self._directory = directory
        self._consents = consents
        self._issuers = issuers
        self._journeys = journeys
        self._mcp_servers = mcp_servers
        self._downstream = downstream
        self._identity_providers = identity_providers
        self._demo_user = demo_user
        self._local_accounts = local_accounts

    async def authorize(
        self,
        issuer: Issuer,
        params: Params,
        browser_secret: str,
        session_cookie: str | None,
        *,
        user_started: bool = False,
    ) -> Onward:
        """Check an authorization request and start its journey.

        Errors about the client or its redirect URI are raised (they are shown on a page);
        every later error is sent back to the client. A client named by the URL of its metadata
        document has it fetched first, before the transaction opens (``flow/authorization/client_directory.py``).
        ``user_started``: the browser said the user started this navigation (``Sec-Fetch-Site``),
        without which a remembered consent does not skip the consent page (decision 0012).
        """
        return await self._onward(await self._authorize(issuer, params, browser_secret, session_cookie, user_started))

    async def _authorize(
        self, issuer: Issuer, params: Params, browser_secret: str, session_cookie: str | None, user_started: bool
    ) -> Onward | Downstream:
        document = await self._directory.document(params.get("client_id"))

        async def unit(tx: Transaction) -> Onward | Downstream:
            client, redirect_uri = await check_client(tx, self._directory, issuer, params, document)
            try:
                request = await check_request(self._issuers, issuer, client, redirect_uri, params)
            except OAuthError as error:
                return error_to_client(redirect_uri, _state(params), issuer.url, error, automatic=False)
            request = replace(request, user_started=user_started)
            signed_in = await self._signed_in_already(tx, session_cookie)
            journey, interaction_id = await self._journeys.request_authorization(
                tx, request, browser_secret, signed_in=signed_in
            )
            if self._demo_user is not None:
                return await self._approve(tx, journey, "demo mode: approved automatically")
            if signed_in is None:
                return ToInteraction(interaction_id, "login")
            return await self._ask_consent(tx, journey, interaction_id)

        return await self._db.run(unit)

    async def login_view(self, interaction_id: str, browser_secret: str | None) -> LoginView:

        async def unit(tx: Transaction) -> LoginView:
            journey = await self._journeys.pending(tx, interaction_id, browser_secret)
            view = await self._view(tx, journey, None)
            providers = tuple((provider.name, provider.label) for provider in await self._identity_providers.all(tx))
            return LoginView(
                view.client_name,
                view.server_name,
                signed_in=journey.user_id is not None,
                providers=providers,
                local_accounts=self._local_accounts,
            )

        return await self._db.run(unit)

    async def login(
        self, interaction_id: str, browser_secret: str | None, username: str, password: str, address: str
    ) -> tuple[str, Onward] | None:
        """Sign the user in; returns the new session cookie and where to go next, or ``None`` if refused.

        A username locked for the client's ``address`` after repeated failures from there raises
        ``TooManyRequests`` before its password is even checked (``accounts/lockout.py``). The
        journey records each failure and lock (``sign_in_failed``, ``sign_in_locked``; issue 17).
        A disabled account raises ``AccountDisabled``, only once its password was found right (issue 17).
        With local accounts turned off (``--no-local-accounts``, issue 16) no password is checked at all.
        """
        if not self._local_accounts:
            raise InvalidRequest("Sign-in with a password is turned off here: continue with an identity provider.")

        async def stored_password(tx: Transaction) -> tuple[str, StoredPassword | None, int]:
            journey = await self._journeys.pending(tx, interaction_id, browser_secret)
            wait = await self._lockout.wait(tx, username, address)
            return journey.id, await self._accounts.stored_password(tx, username), wait

        journey_id, stored, wait = await self._db.run(stored_password)
        if wait > 0:
            await self._db.run(lambda tx: self._journeys.sign_in_locked(tx, journey_id, username, wait))
            raise lockout_refusal(wait)
        user = await self._accounts.check_password(stored, password)
        if user is None:

            async def failed(tx: Transaction) -> None:
                locked_for = await self._lockout.failed(tx, username, address)
                await self._journeys.sign_in_failed(tx, journey_id, username, locked_for=locked_for)

            await self._db.run(failed)
            return None
        if user.disabled_at is not None:
            raise AccountDisabled("This account is disabled. Ask the operator of this server to enable it.")

        async def unit(tx: Transaction) -> tuple[str, Onward | Downstream]:
            await self._lockout.succeeded(tx, username, address)
            journey = await self._journeys.pending(tx, interaction_id, browser_secret)
            return await self.signed_in(tx, journey, user, f"{user.username}, with a password", interaction_id)

        session, outcome = await self._db.run(unit)
        return session, await self._onward(outcome)

    async def signed_in(
        self, tx: Transaction, journey: Journey, user: User, how: str, interaction_id: str
    ) -> tuple[str, Onward | Downstream]:
        """The user was authenticated some other way (an identity provider, issue 16): a session, then consent."""
        session = await self._accounts.start_session(tx, user)
        journey = await self._journeys.authenticated(tx, journey, user.id, how)
        return session, await self._ask_consent(tx, journey, interaction_id)

    async def onward(self, outcome: Onward | Downstream) -> Onward:
        """Where the browser goes once the unit that decided ``outcome`` committed."""
        return await self._onward(outcome)

    async def consent_view(self, interaction_id: str, browser_secret: str | None) -> ConsentView:

        async def unit(tx: Transaction) -> ConsentView:
            journey = await self._signed_in(tx, interaction_id, browser_secret)
            assert journey.user_id is not None
            return await self._view(tx, journey, await self._accounts.user(tx, journey.user_id))

        return await self._db.run(unit)

    async def consent(self, interaction_id: str, browser_secret: str | None, approved: bool) -> Onward:
        """The user's answer: a code, or ``access_denied``, sent back to the client (OAuth 2.1 §4.1.2).

        Approved, for an MCP server with connections, the downstream providers come first (issue 4).
        """
        return await self._onward(await self._consent(interaction_id, browser_secret, approved))

    async def _consent(self, interaction_id: str, browser_secret: str | None, approved: bool) -> Onward | Downstream:

        async def unit(tx: Transaction) -> Onward | Downstream:
            journey = await self._signed_in(tx, interaction_id, browser_secret)
            assert journey.request is not None
            if not approved:
                await self._journeys.deny(tx, journey)
                return error_to_client(
                    journey.request.redirect_uri,
                    journey.request.state,
                    journey.issuer,
                    AccessDenied("the user denied the request"),
                )
            await self._consents.remember(tx, journey)
            return await self._approve(tx, journey, "the user approved on the consent page")

        return await self._db.run(unit)

    async def _approve(self, tx: Transaction, journey: Journey, how: str) -> ToClient | Downstream:
        """Consent given: the code, unless the MCP server's connections must authorize first (issue 4)."""
        if await self._mcp_servers.connections(tx, journey.mcp_flow.mcp_server_id):
            await self._journeys.approve_before_downstream(tx, journey, how)
            return Downstream(journey.id)
        return code_to_client(journey, await self._journeys.approve(tx, journey, how))

    async def _onward(self, outcome: Onward | Downstream) -> Onward:
        """Once the transaction that gave consent committed, the downstream flows start (they call out)."""
        return await self._downstream.proceed(outcome.journey_id) if isinstance(outcome, Downstream) else outcome

    async def _ask_consent(
        self, tx: Transaction, journey: Journey, interaction_id: str
    ) -> ToInteraction | ToClient | Downstream:
        """The consent page, unless the user already approved this client, MCP server, scopes and redirect URI (AS-24).

        Only for a request the user started (``Sec-Fetch-Site`` none, same-origin or same-site): a
        metadata-document ``client_id`` is the same for every installation, so any page could
        otherwise start an authorization for it and ride the user's earlier consent (issue 11).
        """
        assert journey.request is not None
        if not journey.request.user_started:
            return ToInteraction(interaction_id, "consent")
        consent = await self._consents.remembered(tx, journey)
        if consent is None:
            return ToInteraction(interaction_id, "consent")
        return await self._approve(tx, journey, f"remembered from {consent.approved_at.date().isoformat()}")

    async def _signed_in_already(self, tx: Transaction, session_cookie: str | None) -> SignedIn | None:
        """Who is signed in before the request (OAuth 2.1 §3.1): demo mode's user, else the session's, else nobody."""
        if self._demo_user is not None:
            how = f"demo mode: signed in as {self._demo_user.username} automatically"
            return SignedIn(self._demo_user.id, how)
        user = await self._accounts.session_user(tx, session_cookie)
        return SignedIn(user.id, f"{user.username}, already signed in") if user is not None else None

    async def _signed_in(self, tx: Transaction, interaction_id: str, browser_secret: str | None) -> Journey:
        journey = await self._journeys.pending(tx, interaction_id, browser_secret)
        if journey.user_id is None:
            raise SignInRequired("Sign in before you approve access.")
        return journey

    async def _view(self, tx: Transaction, journey: Journey, user: User | None) -> ConsentView:
        assert journey.request is not None
        client = await self._clients.find(tx, journey.mcp_flow.client_id, journey.issuer)
        server = await self._mcp_servers.get(tx, journey.mcp_flow.mcp_server_id)
        if client is None or server is None:
            raise InvalidRequest("The application or the MCP server of this request no longer exists.")
        approved = await self._consents.approved_scopes(tx, journey)
        before = set(approved or ())
        lines = tuple(ScopeLine(scope, server.describe(scope), scope in before) for scope in journey.request.scope)
        return ConsentView(
            client_name=client.display_name,
            client_id=with_a_label_host(client.client_id),
            client_host=host_of(client.client_id) if client.from_metadata_document else None,
            redirect_host=host_of(journey.request.redirect_uri),
            localhost_only=all(is_loopback_http(uri) for uri in client.redirect_uris),
            server_name=server.name,
            resource=server.resource,
            scopes=lines,
            username=user.username if user else "",
            issuer=journey.issuer,
            step_up=approved is not None and not all(line.approved_before for line in lines),
        )


def _state(params: Params) -> str | None:
    """The request's state, to echo in an error (none if it was itself the problem)."""
    try:
        return params.get("state")
    except OAuthError:
        return None
