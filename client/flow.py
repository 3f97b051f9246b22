"""The eight steps, in order, and what a later run reuses instead of asking again.

::

    1 discover   POST the MCP server without a token → 401 → protected resource metadata
    2 metadata   the authorization server's metadata, for exactly the issuer named
    3 register   pre-registered, a client ID metadata document, the registration stored for that
                 issuer, or dynamic client registration (CL-10)
    4 authorize  PKCE and state → browser (or --headless) → redirect back → state and iss checked
    5 token      the code for tokens
    6 call       list the tools, call whoami (and the tool of --call), with the access token
    7 refresh    the refresh token for new tokens (rotated, stored); whoami with the new access token
    8 revoke     the refresh token revoked (RFC 7009) if the server can, the tokens forgotten

A full run is steps 1 to 7: it keeps the tokens for the next run. An MCP server that answers step 1
without a 401 asks for no authorization: the run says so and goes straight to step 6, without a
token, and stores nothing (issue 15, decision 0050). Step 8 runs only when asked
(``--step revoke``, client/stepwise.py).

A later run reuses what the store holds:

- a stored access token that has not expired: steps 3 to 5 reuse, nothing is asked;
- an expired one with a refresh token: it is refreshed at step 5 (CL-29); if that fails, a new
  authorization runs;
- a stored access token the MCP server refuses (401): treated as expired, once; when the refreshed
  one is refused too, the tokens are forgotten and a new authorization runs, once (issue 17);
- a refresh token refused at step 7 (``invalid_grant``: the user revoked the app, the grant
  expired): the dead tokens are forgotten and steps 4 and 5 run again in this run (issue 17); when
  that needs a person and ``--headless`` has none, the error line names the command to run;
- any access token the MCP server refuses (401): step 1 runs again, and when the protected
  resource metadata now names another authorization server, the client adopts it: its metadata,
  a registration with it, new tokens (CL-09, CL-14, SEP-2352), once;
- ``invalid_client`` at the token endpoint (the server forgot the client): the registration is
  dropped and a dynamic client registers again, once; a pre-registered client or a metadata
  document URL cannot be made again, so that is an error.

With ``--grant client_credentials`` (a machine client, OAuth 2.1 §4.2) there is no user: step 4
asks nobody, step 5 sends the client's own credentials, and an expired or refused token is
replaced by a new client_credentials request, never refreshed. ``--grant enterprise`` (SEP-990)
and ``--grant workload`` (SEP-1933, draft) are the same with an assertion instead: step 5 first
gets an ID-JAG from the user's IdP by token exchange (enterprise), or reads the workload's JWT,
and presents it with the jwt-bearer grant (RFC 7523 §2.1).

A 403 ``insufficient_scope`` at step 6 (CL-30, MCP Step-Up Authorization Flow) runs steps 4 and 5
again (for a machine client: step 5 alone) for the union of the scope asked before and the scope
the challenge names (SEP-2350), then step 6 again; at most :data:`MAX_STEP_UPS` times for the
run's resource and tool, then it fails.
"""

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2

from mcp_authz.client import authorization, discovery, mcp_calls, progress, registration, tokens
from mcp_authz.client.assertion import SigningKey
from mcp_authz.client.authorization import PendingAuthorization
from mcp_authz.client.callback import UserAgentFactory, redirect_uri_for
from mcp_authz.client.dpop import ALGORITHM as DPOP_ALGORITHM
from mcp_authz.client.dpop import DpopKey
from mcp_authz.client.errors import (
    AuthorizationError,
    AuthorizationServerError,
    InsufficientScope,
    InvalidClient,
    NeedsPerson,
    TokenError,
    TokenRejected,
    ToolCallError,
)
from mcp_authz.client.registration import DYNAMIC, PRIVATE_KEY_JWT, Registration
from mcp_authz.client.store import Store
from mcp_authz.client.tokens import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    ENTERPRISE,
    NO_BROWSER_GRANTS,
    WORKLOAD,
    IdentityProvider,
    Tokens,
)
from mcp_authz.client.tutorial import Tutorial, mask
from mcp_authz.client.urls import UrlPolicy
from mcp_authz.shared.metadata import AuthorizationServerMetadata
from mcp_authz.shared.scopes import format_scope, parse_scope

#: What the client says of an MCP server that answers without a 401 (MCP Authorization §1: optional).
NO_AUTHORIZATION = "this MCP server asks for no authorization"
AUTHORIZE = "Get the user's approval (OAuth 2.1 §4.1): PKCE and state, the browser, the redirect back."
EXCHANGE = "Exchange the authorization code for tokens (OAuth 2.1 §4.1.3)."
#: How many times one run re-authorizes for more scope before it gives up (CL-30).
MAX_STEP_UPS = 2


@dataclass(frozen=True)
class ToolCall:
    """One ``--call TOOL [--args JSON]``."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    server_url: str
    store: Path
    client_name: str
    #: The port of the redirect URI registered: ``http://127.0.0.1:PORT/callback``.
    callback_port: int
    #: The tools to call at step 6, after whoami, in order, each with its arguments (``--call``, ``--args``).
    calls: tuple["ToolCall", ...] = ()
    #: A pre-registered client (``--client-id``, ``--client-secret``, ``--client-auth-method``);
    #: without ``--client-auth-method``, the method the server's metadata allows (CL-13).
    client_id: str | None = None
    client_secret: str | None = None
    client_auth_method: str | None = None
    #: The URL of this client's metadata document, its client_id where the server supports that.
    client_metadata_url: str | None = None
    #: ``--private-key-file`` and ``--private-key-alg``: ``private_key_jwt`` instead of a secret.
    private_key: SigningKey | None = None
    #: ``--grant``: :data:`AUTHORIZATION_CODE` (a user approves) or :data:`CLIENT_CREDENTIALS` (no user).
    grant: str = AUTHORIZATION_CODE
    #: DPoP (RFC 9449) when the authorization server advertises it; ``--no-dpop`` turns it off.
    dpop: bool = True
    #: ``--grant enterprise``: where the ID-JAG comes from (SEP-990).
    identity_provider: IdentityProvider | None = None
    #: ``--grant workload``: the workload's JWT (``--assertion-file`` or ``--assertion-env``; SEP-1933).
    assertion: str | None = field(default=None, repr=False)


class Flow:
    """One run's state: what discovery found, and the registration in use."""

    issuer: str
    resource: str
    scope: tuple[str, ...] | None
    scope_reason: str
    metadata: AuthorizationServerMetadata
    registration: Registration

    def __init__(
        self,
        options: Options,
        tutorial: Tutorial,
        http: httpx2.AsyncClient,
        store: Store,
        user_agent: UserAgentFactory,
    ) -> None:
        self.options = options
        self.tutorial = tutorial
        self.http = http
        self.store = store
        self.user_agent = user_agent
        self.policy = UrlPolicy.for_server(options.server_url)
        #: Whether the tokens in use came from refreshing stored ones (not from an authorization).
        self.refreshed = False
        #: Whether the MCP server publishes no protected resource metadata: a 2025-03-26 server, whose
        #: authorization server is at its origin, perhaps with the default endpoints (2025-03-26 §2.3).
        self.legacy = False

    async def run(self) -> None:
        tutorial = self.tutorial
        tutorial.heading(f"MCP authorization, step by step, for {self.options.server_url}")
        tutorial.heading(f"(store: {self.store.path})")
        if not await self.discover():
            await self.call_without_authorization()
            tutorial.heading("")
            tutorial.outcome(f"done: {NO_AUTHORIZATION}; nothing is stored")
            return
        await self.fetch_metadata()
        held, reused = await self.obtain_tokens()
        try:
            held = await self.call(held)
        except TokenRejected as exc:
            tutorial.say(str(exc))
            held = await self.after_rejection(held, reused, exc)
            try:
                held = await self.call(held)
            except TokenRejected as again:
                if not self.refreshed:
                    raise
                tutorial.say(str(again))
                held = await self.call(await self.after_refused_refresh())
        await self.refresh(held)
        tutorial.heading("")
        tutorial.outcome(f"done: registration and tokens are stored in {self.store.path}")
        tutorial.heading("(step 8, revoke, runs only when asked: --step revoke)")

    async def after_rejection(self, held: Tokens, reused: bool, rejection: TokenRejected) -> Tokens:
        """A 401 to the access token: discover again, and adopt a new authorization server (CL-09, CL-14).

        The MCP server's challenge names its protected resource metadata again (RFC 9728 §5.2),
        which may now name another authorization server (SEP-2352): then its metadata, a
        registration with it (never the previous server's client), and new tokens. With the same
        server, a stored token is renewed (CL-29); a token just issued is not asked for again.
        """
        tutorial = self.tutorial
        tutorial.rule("CL-09, RFC 9728 §5.2", "a 401 to the token: read the protected resource metadata afresh")
        previous = self.issuer
        if not await self.discover():
            raise rejection  # the server refused a token, then asked for none: nothing to adopt
        if self.issuer != previous:
            tutorial.rule(
                "CL-09, CL-14, SEP-2352",
                f"the MCP server now names {self.issuer}, not {previous}: its metadata, its own registration, "
                "new tokens",
            )
            if self.options.client_id is not None:
                raise AuthorizationServerError(
                    f"the MCP server moved from {previous} to {self.issuer}: the pre-registered --client-id "
                    f"{self.options.client_id} belongs to {previous} and is not sent to another server (CL-14)"
                )
            await self.fetch_metadata()
            held, _ = await self.obtain_tokens()
            return held
        if not reused:
            if self.refreshed:
                return await self.after_refused_refresh()
            raise rejection
        tutorial.rule("CL-29, OAuth 2.1 §4.3", "a stored access token the server refuses is renewed, once")
        self.store.save_tokens(replace(held, expires_at=0))
        held, _ = await self.obtain_tokens()
        return held

    async def after_refused_refresh(self) -> Tokens:
        """An access token just refreshed is refused too (RFC 6750 §3.1 ``invalid_token``): the grant
        behind it is no good; forget the tokens and authorize again, once (CL-29)."""
        self.tutorial.rule(
            "CL-29, RFC 6750 §3.1", "the refreshed access token is refused too: forget the tokens, authorize again"
        )
        self.store.forget_tokens(self.resource, self.issuer)
        self.refreshed = False
        return await self.authorize(self.registration)

    async def discover(self) -> bool:
        """Step 1: the resource, its issuer, and the scope to ask for; stored for ``--step``.

        ``False`` when the MCP server asks for no authorization (it answered without a 401):
        then there is nothing to discover, and nothing is stored.
        """
        tutorial = self.tutorial
        tutorial.step(
            1, "discover", "Ask the MCP server without a token: its 401 names its resource metadata (RFC 9728)."
        )
        server_url = self.options.server_url
        challenge = await discovery.ask_without_token(self.http, server_url, tutorial)
        if challenge is None:
            tutorial.result(NO_AUTHORIZATION)
            self.store.forget_progress(server_url, "discover")
            return False
        resource_metadata = await discovery.fetch_protected_resource_metadata(
            self.http, server_url, challenge, self.policy, tutorial
        )
        if resource_metadata is None:
            self.legacy = True
            self.issuer = discovery.legacy_issuer(server_url)
            self.resource = server_url
            self.scope, self.scope_reason = authorization.choose_scope(challenge.scope, None)
        else:
            self.legacy = False
            self.issuer = discovery.choose_issuer(resource_metadata, self.policy, tutorial)
            self.resource = resource_metadata.resource
            self.scope, self.scope_reason = authorization.choose_scope(
                challenge.scope, resource_metadata.scopes_supported
            )
        tutorial.result(f"resource {self.resource}, authorization server {self.issuer}")
        self.store.save_progress(
            server_url,
            "discover",
            progress.discovered(self.resource, self.issuer, self.scope, self.scope_reason, legacy=self.legacy),
        )
        return True

    async def fetch_metadata(self) -> None:
        """Step 2: the issuer's metadata (a 2025-03-26 server's: perhaps default endpoints); stored for ``--step``."""
        tutorial = self.tutorial
        tutorial.step(2, "metadata", f"Fetch the metadata of the authorization server {self.issuer} (RFC 8414).")
        self.metadata = await discovery.fetch_authorization_server_metadata(
            self.http, self.issuer, self.policy, tutorial, self.options.grant, legacy=self.legacy
        )
        tutorial.result(
            f"authorize at {self.metadata.authorization_endpoint}, tokens at {self.metadata.token_endpoint}"
        )
        self.store.save_progress(self.options.server_url, "metadata", self.metadata.to_json())

    async def call_without_authorization(self) -> None:
        """Step 6 alone, for an MCP server that asks for no authorization: no token, no store."""
        self.tutorial.step(6, "call", f"Call the MCP server without a token: list its tools, {self.what_to_call()}.")
        self.tutorial.rule("MCP Authorization §1", "authorization is optional: no Authorization header is sent")
        await self.use(None, self.options.calls)

    async def obtain_tokens(self) -> tuple[Tokens, bool]:
        """Steps 3 to 5; whether the tokens are the stored ones, as they were."""
        self.registration = self.with_dpop_key(await self.register())
        try:
            return await self.tokens_for(self.registration)
        except InvalidClient as exc:
            self.tutorial.say(str(exc))
            self.store.forget_registration(self.issuer)
            if self.registration.kind != DYNAMIC:
                raise InvalidClient(f"{exc} (a {self.registration.kind} client_id: check it)") from None
            self.tutorial.rule("CL-14, RFC 6749 §5.2", "invalid_client: the server forgot this client; register again")
            self.registration = self.with_dpop_key(await self.register())
            return await self.tokens_for(self.registration)

    async def register(self) -> Registration:
        """Step 3 in MCP Client Registration's order (CL-10): pre-registered, a metadata document, dynamic.

        A registration stored for this issuer is reused before registering dynamically (CL-14).
        """
        tutorial = self.tutorial
        tutorial.step(3, "register", "Register this client with the authorization server (RFC 7591), once per issuer.")
        options = self.options
        if options.grant == WORKLOAD and options.client_id is None:
            tutorial.rule("SEP-1933 (draft)", "a workload is known by its JWT's issuer and subject: no client_id")
            return self.keep(registration.workload_identity(self.issuer), "nothing to register")
        if options.client_id is not None:
            supported = self.metadata.token_endpoint_auth_methods_supported
            made = registration.pre_registered(
                self.issuer,
                options.client_id,
                client_secret=options.client_secret,
                auth_method=options.client_auth_method or registration.secret_method(supported),
                key=options.private_key,
            )
            tutorial.rule("CL-10, MCP Client Registration", "a pre-registered client (--client-id): nothing to send")
            self.explain_authentication(made)
            return self.keep(made, f"using the pre-registered client_id {made.client_id}")
        if options.client_metadata_url is not None:
            if self.metadata.client_id_metadata_document_supported:
                tutorial.rule(
                    "CL-10, CL-11, MCP Client ID Metadata Documents",
                    "the server fetches this client's metadata from its URL: nothing to send",
                )
                made = registration.metadata_document(self.issuer, options.client_metadata_url, options.private_key)
                self.explain_authentication(made)
                return self.keep(made, f"using the client ID metadata document {made.client_id} as client_id")
            tutorial.say(
                f"{self.issuer} does not advertise client_id_metadata_document_supported: "
                "--client-metadata-url is not used, falling back to dynamic registration"
            )
        stored = self.store.registration(self.issuer)
        if stored is not None:
            tutorial.result(f"reusing the registration stored for {self.issuer}: client_id {stored.client_id}")
            tutorial.rule("CL-14, MCP Authorization Server Binding", "a registration is only used with its own issuer")
            return stored
        tutorial.rule(
            "CL-12, MCP Dynamic Client Registration",
            "a public native client: application_type native, token_endpoint_auth_method none, "
            "grant_types authorization_code and refresh_token, a loopback redirect URI",
        )
        made = await registration.register(
            self.http,
            self.metadata,
            redirect_uri_for(self.options.callback_port),
            self.options.client_name,
        )
        return self.keep(made, f"registered as client_id {made.client_id}")

    def with_dpop_key(self, made: Registration) -> Registration:
        """The registration with its DPoP key (RFC 9449), made and stored the first time the server offers DPoP."""
        offered = self.metadata.dpop_signing_alg_values_supported or ()
        if not self.options.dpop or DPOP_ALGORITHM not in offered:
            if self.options.dpop and offered:
                self.tutorial.say(f"{self.issuer} offers DPoP only with {', '.join(offered)}: bearer tokens then")
            return made
        if made.dpop_jwk is None:
            made = replace(made, dpop_jwk=DpopKey.new().private_jwk)
            self.store.save_registration(made)
        key = DpopKey(made.dpop_jwk or {})
        self.tutorial.rule(
            "RFC 9449 §5, §7",
            f"the server offers DPoP: tokens bound to this registration's key (jkt {key.jkt}, kept in the store),"
            " a fresh proof on each request to the token endpoint and the MCP server",
        )
        return made

    def dpop_key(self, registration: Registration) -> DpopKey | None:
        """The key that proves possession at the token endpoint (RFC 9449 §5); ``None``: bearer tokens."""
        offered = self.metadata.dpop_signing_alg_values_supported or ()
        if not self.options.dpop or DPOP_ALGORITHM not in offered or registration.dpop_jwk is None:
            return None
        return DpopKey(registration.dpop_jwk)

    def keep(self, made: Registration, what: str) -> Registration:
        """Store ``made`` under its issuer (CL-14), and say so; the DPoP key of the same client_id is kept."""
        before = self.store.registration(self.issuer)
        if made.dpop_jwk is None and before is not None and before.client_id == made.client_id:
            made = replace(made, dpop_jwk=before.dpop_jwk)  # its tokens are bound to it (RFC 9449 §6.1)
        self.store.save_registration(made)
        self.tutorial.result(f"{what}; stored for the issuer {self.issuer}")
        return made

    async def tokens_for(self, registration: Registration) -> tuple[Tokens, bool]:
        """Steps 4 and 5: the stored tokens if still valid, else renewed ones."""
        tutorial = self.tutorial
        stored = self.store.tokens(self.resource, self.issuer)
        if stored is not None and stored.client_id != registration.client_id:
            stored = None  # issued to a registration that is gone
        if stored is not None and not stored.expired(time.time()):
            tutorial.step(4, "authorize", AUTHORIZE)
            left = f"valid for {stored.expires_at - int(time.time())} s more" if stored.expires_at else "without expiry"
            tutorial.result(f"no authorization needed: the access token stored for {self.resource} is {left}")
            tutorial.step(5, "token", EXCHANGE)
            tutorial.result(f"reusing the stored access token {mask(stored.access_token)}")
            tutorial.rule("CL-27, MCP Token Handling", "tokens are stored per resource and issuer, and used only there")
            return stored, True
        return await self.renew(registration, stored), False

    async def renew(self, registration: Registration, stored: Tokens | None) -> Tokens:
        """Refresh the stored tokens (CL-29); without a refresh token, or if that fails, authorize anew."""
        tutorial = self.tutorial
        if stored is None or stored.refresh_token is None:
            return await self.authorize(registration)
        tutorial.step(4, "authorize", AUTHORIZE)
        tutorial.result("no authorization needed: the stored access token is over, but a refresh token is stored")
        tutorial.step(5, "token", "Refresh the stored tokens (OAuth 2.1 §4.3).")
        try:
            renewed = await self.refresh_grant(registration, stored)
            self.refreshed = True
            return renewed
        except InvalidClient:
            raise  # not the refresh token's fault: obtain_tokens registers again
        except TokenError as exc:
            return await self.reauthorize(registration, exc)

    async def reauthorize(self, registration: Registration, refused: TokenError) -> Tokens:
        """The refresh token is refused (``invalid_grant``, RFC 6749 §5.2: the user revoked the app, or the
        grant expired): forget the dead tokens and run the authorization again, in this run (CL-29).

        When that needs a person and ``--headless`` has none, the error line says what to run.
        """
        tutorial = self.tutorial
        tutorial.say(f"the refresh failed: {refused}")
        tutorial.rule("CL-29, OAuth 2.1 §4.3", "when the refresh fails, run the authorization again")
        self.store.forget_tokens(self.resource, self.issuer)
        tutorial.result(f"the dead tokens for {self.resource} are forgotten from {self.store.path}")
        try:
            return await self.authorize(registration)
        except NeedsPerson:
            raise AuthorizationError(
                "the authorization server refused the stored refresh token (the app was revoked, or the grant "
                "expired) and it is forgotten; signing in again needs a person: run python client.py --server-url "
                f"{self.options.server_url} --store {self.store.path} (without --headless)"
            ) from None

    async def authorize(self, registration: Registration) -> Tokens:
        """Steps 4 and 5 in full: the user's approval, then the code for tokens; a machine client asks nobody."""
        if self.options.grant in NO_BROWSER_GRANTS:
            self.no_approval()
            if self.options.grant != CLIENT_CREDENTIALS:
                return await self.assertion_token(registration)
            return await self.machine_token(registration)
        pending, code = await self.approval(registration)
        return await self.exchange(registration, pending, code)

    def no_approval(self) -> None:
        """Step 4 of a machine client: there is no user to ask (OAuth 2.1 §4.2)."""
        self.tutorial.step(4, "authorize", "No user to ask: a machine client gets a token for itself (OAuth 2.1 §4.2).")
        self.tutorial.result(f"nothing to do: the {self.options.grant} grant has no authorization request")
        self.tutorial.rule("OAuth 2.1 §4.2, MCP ext-auth SEP-1046", "no browser, no PKCE, no state, no code")

    async def machine_token(self, registration: Registration) -> Tokens:
        """Step 5 of a machine client: its own credentials for a token (OAuth 2.1 §4.2.1)."""
        tutorial = self.tutorial
        tutorial.step(5, "token", "Ask for a token with the client's own credentials (OAuth 2.1 §4.2).")
        scope = format_scope(self.scope) if self.scope else "(none)"
        tutorial.rule("CL-15, MCP Scope Selection Strategy", f"scope {scope}: {self.scope_reason}")
        tutorial.rule(
            "CL-19, CL-24, CL-13",
            f"client_credentials grant to the token endpoint of {self.issuer}, naming resource={self.resource}, "
            f"authenticated with {registration.token_endpoint_auth_method}",
        )
        got = await tokens.client_credentials(
            self.http, self.metadata, registration, self.resource, self.scope, self.dpop_key(registration)
        )
        self.store.save_tokens(got)
        self.describe(got)
        return got

    async def assertion_token(self, registration: Registration) -> Tokens:
        """Step 5 with an assertion (RFC 7523 §2.1): an IdP's ID-JAG (SEP-990) or the workload's JWT (SEP-1933)."""
        tutorial = self.tutorial
        options = self.options
        if options.grant == ENTERPRISE:
            idp = options.identity_provider
            assert idp is not None  # cli.py requires the --idp-* options with --grant enterprise
            tutorial.step(5, "token", "Exchange the user's IdP token for an ID-JAG, then present it (SEP-990).")
            tutorial.rule(
                "SEP-990, RFC 8693 §2.1",
                f"token exchange at {idp.token_endpoint}: requested_token_type id-jag, audience {self.issuer}, "
                f"resource {self.resource}",
            )
            assertion_jwt = await tokens.id_jag(self.http, idp, self.issuer, self.resource, self.scope)
            tutorial.result(f"the IdP issued an ID-JAG {mask(assertion_jwt)}")
        else:
            tutorial.step(5, "token", "Present the workload's own JWT for a token (SEP-1933, draft).")
            assert options.assertion is not None  # cli.py requires --assertion-file or --assertion-env
            assertion_jwt = options.assertion
        tutorial.rule(
            "RFC 7523 §2.1",
            f"jwt-bearer grant to the token endpoint of {self.issuer}, naming resource={self.resource}, "
            f"authenticated with {registration.token_endpoint_auth_method}",
        )
        got = await tokens.jwt_bearer(
            self.http,
            self.metadata,
            registration,
            assertion_jwt,
            self.resource,
            self.scope,
            self.dpop_key(registration),
        )
        self.store.save_tokens(got)
        self.describe(got)
        return got

    async def approval(self, registration: Registration) -> tuple[PendingAuthorization, str]:
        """Step 4: the request the user approved, and the code it brought back."""
        tutorial = self.tutorial
        tutorial.step(4, "authorize", AUTHORIZE)
        scope = format_scope(self.scope) if self.scope else "(none)"
        tutorial.rule("CL-15, MCP Scope Selection Strategy", f"scope {scope}: {self.scope_reason}")
        asked = authorization.with_offline_access(self.scope, self.metadata.scopes_supported)
        if asked != self.scope:
            tutorial.rule(
                "CL-16, MCP Refresh Tokens", "the authorization server lists offline_access: asked for with the scope"
            )
        async with self.user_agent() as agent:
            pending = authorization.start(
                issuer=self.issuer,
                resource=self.resource,
                client_id=registration.client_id,
                redirect_uri=agent.redirect_uri,
                scope=asked,
            )
            self.explain(pending)
            url = authorization.authorization_url(self.metadata.authorization_endpoint, pending, self.policy)
            response = await agent.authorize(url)
        accepted = authorization.accept_response(
            response, pending, bool(self.metadata.authorization_response_iss_parameter_supported)
        )
        tutorial.rule("CL-18, OAuth 2.1 §7.12", "state is the one this request sent")
        tutorial.rule("CL-23, RFC 9207 §2.4", accepted.iss_check)
        tutorial.result(f"authorization code {mask(accepted.code)} received")
        return pending, accepted.code

    async def exchange(self, registration: Registration, pending: PendingAuthorization, code: str) -> Tokens:
        """Step 5: the code for tokens, at the token endpoint of the issuer recorded (CL-24)."""
        tutorial = self.tutorial
        tutorial.step(5, "token", EXCHANGE)
        tutorial.rule(
            "CL-24, CL-25, CL-19",
            f"to the token endpoint of {self.issuer} only: the code, its PKCE verifier, the redirect URI, the resource",
        )
        got = await tokens.exchange_code(
            self.http, self.metadata, registration, pending, code, self.dpop_key(registration)
        )
        self.store.save_tokens(got)
        self.describe(got)
        return got

    async def refresh_grant(self, registration: Registration, held: Tokens) -> Tokens:
        """The refresh token grant, with the rotated refresh token stored at once (CL-29)."""
        assert held.refresh_token is not None
        self.tutorial.rule("CL-29, CL-19", "refresh_token grant, naming the same resource")
        renewed = await tokens.refresh(self.http, self.metadata, registration, held, self.dpop_key(registration))
        self.store.save_tokens(renewed)
        if renewed.refresh_token != held.refresh_token:
            self.tutorial.rule(
                "CL-29, OAuth 2.1 §4.3.1",
                f"the refresh token rotated: {mask(renewed.refresh_token or '')} replaces "
                f"{mask(held.refresh_token)}, which the server has revoked",
            )
        self.describe(renewed)
        return renewed

    async def call(self, held: Tokens) -> Tokens:
        """Step 6, stepped up on 403 ``insufficient_scope`` (CL-30); the tokens that worked."""
        step_ups = 0
        while True:
            self.tutorial.step(
                6, "call", f"Call the MCP server with the access token: list its tools, {self.what_to_call()}."
            )
            try:
                await self.use(held, self.options.calls)
                return held
            except InsufficientScope as exc:
                self.tutorial.say(str(exc))
                if step_ups == MAX_STEP_UPS:
                    raise ToolCallError(
                        f"{exc}, still after {MAX_STEP_UPS} step-ups to scope {format_scope(self.scope or ())!r} "
                        "(CL-30: a bounded number of retries)"
                    ) from None
                step_ups += 1
                held = await self.step_up(held, exc.scope)

    async def step_up(self, held: Tokens, challenged: tuple[str, ...]) -> Tokens:
        """Authorize again for union(asked before, granted, challenged) scopes (SEP-2350), then the token."""
        granted = parse_scope(held.scope or "")
        self.scope = tuple(dict.fromkeys((*(self.scope or ()), *granted, *challenged)))
        self.scope_reason = "the scope asked before, with the scope the 403 challenge names (SEP-2350: their union)"
        self.tutorial.rule(
            "CL-30, MCP Step-Up Authorization Flow",
            f"403 insufficient_scope: authorize again for scope {format_scope(self.scope)}, then call again",
        )
        return await self.authorize(self.registration)

    async def refresh(self, held: Tokens) -> None:
        """Step 7: rotate the tokens, and show the new access token works."""
        tutorial = self.tutorial
        if self.options.grant in NO_BROWSER_GRANTS:
            tutorial.step(7, "refresh", "Nothing to refresh: a client without a user asks for a new token instead.")
            tutorial.result("no refresh token is kept: when the access token expires, step 5 runs again")
            tutorial.rule("OAuth 2.1 §4.2.3", "the client_credentials grant should not issue a refresh token")
            return
        tutorial.step(7, "refresh", "Refresh the tokens (OAuth 2.1 §4.3), then call whoami with the new access token.")
        if held.refresh_token is None:
            tutorial.result("the authorization server issued no refresh token: nothing to refresh")
            tutorial.rule("CL-16, MCP Refresh Tokens", "a client never assumes it will get a refresh token")
            return
        try:
            renewed = await self.refresh_grant(self.registration, held)
        except InvalidClient:
            raise
        except TokenError as exc:
            renewed = await self.reauthorize(self.registration, exc)
        await self.use(renewed)

    async def revoke(self, held: Tokens) -> str | None:
        """Step 8: revoke the refresh token where the server offers it (RFC 7009), then forget the tokens;
        the kind of token revoked, ``None`` when the server offers no revocation."""
        tutorial = self.tutorial
        tutorial.step(8, "revoke", "Revoke the tokens (RFC 7009), then forget them here.")
        endpoint = self.metadata.revocation_endpoint
        hint = None
        if endpoint is None:
            tutorial.say(
                f"{self.issuer} offers no revocation: its metadata has no revocation_endpoint, so the tokens "
                "stay valid there until they expire"
            )
            tutorial.rule("RFC 8414 §2, RFC 7009 §2", "revoke only at the revocation_endpoint the metadata names")
        else:
            tutorial.rule(
                "RFC 7009 §2.1", "POST the token with its token_type_hint, authenticated as at the token endpoint"
            )
            hint = await tokens.revoke(self.http, endpoint, self.registration, held)
            tutorial.result(f"the {hint.replace('_', ' ')} is revoked at {endpoint}")
            tutorial.rule("RFC 7009 §2.2", "200: the token is no longer valid, whether or not the server still knew it")
        self.store.forget_tokens(self.resource, self.issuer)
        tutorial.result(f"the tokens for {self.resource} are forgotten from {self.store.path}")
        return hint

    async def logout(self) -> None:
        """``logout``: steps 1 and 2 afresh, step 8 for the tokens stored for this server, its progress forgotten;
        then what it did, one line each (issue 17): revoked where, forgotten what, kept what.

        The registration stays: it names this client at the issuer, not the user's grant.
        """
        if not await self.discover():
            self.store.forget_server(self.options.server_url)
            self.tutorial.heading("")
            self.tutorial.outcome(f"{NO_AUTHORIZATION}: it has no tokens to revoke")
            return
        await self.fetch_metadata()
        held = self.store.tokens(self.resource, self.issuer)
        stored = self.store.registration(self.issuer)
        done: list[str] = []
        if held is None or stored is None or held.client_id != stored.client_id:
            self.tutorial.result(f"no tokens for {self.resource} are stored: nothing to revoke")
            done.append(f"no tokens for {self.resource} from {self.issuer} were stored: nothing revoked")
        else:
            self.registration = stored
            hint = await self.revoke(held)
            if hint is None:
                done.append(
                    f"not revoked: {self.issuer} has no revocation_endpoint, the tokens stay valid there until they "
                    "expire"
                )
            else:
                done.append(f"revoked the {hint.replace('_', ' ')} at {self.metadata.revocation_endpoint} (RFC 7009)")
            done.append(f"forgot the tokens for {self.resource} from {self.issuer} (client_id {held.client_id})")
        self.store.forget_server(self.options.server_url)
        if stored is not None:
            done.append(
                f"kept the registration {stored.client_id} at {self.issuer}: it names this client, not your grant"
            )
        self.tutorial.heading("")
        for line in done:
            self.tutorial.outcome(line)

    def what_to_call(self) -> str:
        return " and ".join(["call whoami", *(call.tool for call in self.options.calls)])

    async def use(self, held: Tokens | None, calls: tuple[ToolCall, ...] = ()) -> None:
        """List the tools, call whoami if the server has it, then each of ``calls`` in order; without a
        token when ``held`` is ``None`` (a server that asks for no authorization)."""
        tutorial = self.tutorial
        key = None
        if held is not None and held.dpop_bound and self.registration.dpop_jwk:
            key = DpopKey(self.registration.dpop_jwk)
        if held is not None and key is None:
            tutorial.rule("CL-26, MCP Access Token Usage", "Authorization: Bearer on every request, never in the URL")
        elif key is not None:
            tutorial.rule("CL-26, RFC 9449 §7.1", "Authorization: DPoP and a fresh proof (with ath) on every request")
        access_token = held.access_token if held is not None else None
        async with mcp_calls.connected(self.options.server_url, access_token, tutorial, key) as session:
            names = await mcp_calls.list_tools(session)
            tutorial.result(f"tools: {', '.join(names) or '(none)'}")
            if "whoami" in names:
                who = await mcp_calls.call_tool(session, "whoami")
                tutorial.result("whoami:")
                tutorial.data(who)
            else:
                tutorial.result("this server has no whoami tool to call")
            for call in calls:
                if call.tool not in names:
                    raise ToolCallError(
                        f"the MCP server has no tool {call.tool!r}; it has: {', '.join(names) or '(none)'}"
                    )
                answer = await mcp_calls.call_tool(session, call.tool, call.arguments)
                tutorial.result(f"{call.tool}:")
                tutorial.data(answer)

    def explain(self, pending: PendingAuthorization) -> None:
        """What the authorization request is bound to, before the user sees it (CL-20)."""
        tutorial = self.tutorial
        tutorial.rule(
            "CL-17, RFC 7636 §4.1",
            f"a fresh PKCE verifier {mask(pending.code_verifier)} stays here; its S256 challenge goes in the URL",
        )
        tutorial.rule(
            "CL-18, OAuth 2.1 §7.12", f"a fresh random state {pending.state}, checked when the browser returns"
        )
        tutorial.rule("CL-19, RFC 8707", f"resource={pending.resource}, the MCP server the token is for")
        tutorial.rule("CL-21, RFC 8252 §7.3", f"redirect_uri={pending.redirect_uri}: loopback, on a port of this run")
        tutorial.rule("CL-20", f"issuer {pending.issuer}, verifier, state and resource recorded before the redirect")

    def explain_authentication(self, made: Registration) -> None:
        """How this client will authenticate at the token endpoint (CL-13), and whether the server lists that."""
        method = made.token_endpoint_auth_method
        if method == PRIVATE_KEY_JWT:
            how = (
                f"private_key_jwt: each request carries a fresh assertion signed {made.private_key_alg} with the key "
                f"in {made.private_key_file} (iss and sub {made.client_id}, aud {made.issuer}, a new jti, 60 s)"
            )
        elif made.client_secret:
            how = f"the client secret is sent as {method}"
        else:
            how = "a public client: it sends its client_id only"
        self.tutorial.rule("CL-13, RFC 7523 §2.2" if method == PRIVATE_KEY_JWT else "CL-13, RFC 6749 §2.3.1", how)
        supported = self.metadata.token_endpoint_auth_methods_supported
        if supported and method not in supported:
            self.tutorial.say(
                f"{self.issuer} does not list {method} in token_endpoint_auth_methods_supported "
                f"({', '.join(supported)}); this client was registered that way, so it is used"
            )

    def describe(self, held: Tokens) -> None:
        lifetime = f", expires in {held.expires_at - int(time.time())} s" if held.expires_at else ""
        refresh = f", refresh token {mask(held.refresh_token)}" if held.refresh_token else ", no refresh token"
        self.tutorial.result(
            f"access token {mask(held.access_token)}{lifetime}, scope {held.scope or '(as asked)'}{refresh}"
        )
        self.tutorial.rule("CL-28", f"stored in {self.store.path} (mode 0600), shown here masked")
