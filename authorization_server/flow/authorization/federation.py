"""Signing in through an identity provider (issue 16): OpenID Connect's code flow, then consent as today.

::

    browser                 authorization server                               identity provider
      | "Continue with ACME" (POST, CSRF) -->| state, nonce, PKCE verifier: bound to the interaction,
      |                                      | this browser and ACME; journey: upstream_sign_in_started
      |<-- 303 ACME's authorize?...&state&nonce&code_challenge(S256)&prompt=login
      | -------------------------------------------------------------------------> sign-in
      |<-- 303 /federated/acme/callback?code&state&iss ----------------------------- |
      | ------------------------------------>| state: known, unused, ACME's, this browser, in time;
      |                                      | iss (RFC 9207); code + verifier -> ID token, checked
      |                                      | (OIDC Core §3.1.3.7); domain and claim rules; the user
      |<-- 303 consent page (or the client, when consent is remembered)

The mix-up defences (RFC 9700 §4.4.2): each provider has its own callback path, and the provider
is bound to the ``state``: an answer at one provider's path for a sign-in sent to another is
refused, and so is an ``iss`` that is not the provider's (or none, from a provider that promises
one, RFC 9207 §2.4). Every failure after the state is matched is stamped on the journey
(``upstream_sign_in_failed``, why) and shown as a page with the way back to the sign-in page; the
journey stays where it was, so the person can try again or choose another way in.
"""

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from mcp_authz.authorization_server.accounts.entities import User
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import (
    InvalidRequest,
    NotFound,
    OAuthError,
    SignInRefused,
    UpstreamSignInFailed,
)
from mcp_authz.authorization_server.flow.authorization.interactions import Downstream, InteractionService
from mcp_authz.authorization_server.flow.authorization.openid import OpenIdProviders
from mcp_authz.authorization_server.identity_providers.entities import (
    FederatedIdentity,
    IdentityProvider,
    UpstreamSignIn,
)
from mcp_authz.authorization_server.identity_providers.service import IdentityProviderService
from mcp_authz.authorization_server.journeys.entities import Step
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.routes import FEDERATED_CALLBACK_PATH
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.authorization_server.web.redirects import Onward, ToProvider

T = TypeVar("T")


@dataclass(frozen=True)
class SignInProblem:
    """A failed or refused upstream sign-in, shown with the way back to the sign-in page."""

    error: OAuthError
    #: The interaction's sign-in page, when the answer was matched to one.
    interaction_id: str | None


class SignInStopped(Exception):
    def __init__(self, problem: SignInProblem) -> None:
        super().__init__(problem.error.description)
        self.problem = problem


class _Failure:
    """Stamps a failed upstream sign-in on its journey and stops with the page to show."""

    def __init__(
        self, db: Database, journeys: JourneyService, sign_in: UpstreamSignIn, provider: IdentityProvider
    ) -> None:
        self._db = db
        self._journeys = journeys
        self._sign_in = sign_in
        self._provider = provider

    async def stop(self, reason: str, error: OAuthError) -> NoReturn:
        detail = f"at {self._provider.name}: {reason}"
        await self._db.run(
            lambda tx: self._journeys.upstream_sign_in(
                tx, self._sign_in.journey_id, Step.UPSTREAM_SIGN_IN_FAILED, detail
            )
        )
        raise SignInStopped(SignInProblem(error, self._sign_in.interaction_id))

    async def guard(self, pending: Awaitable[T]) -> T:
        """What ``pending`` gives, or, when it fails a check, the failure stamped and the sign-in stopped."""
        try:
            return await pending
        except UpstreamSignInFailed as error:
            await self.stop(error.detail or error.description, error)


def callback_url(root_issuer: str, provider: IdentityProvider) -> str:
    """This server's redirect URI at ``provider`` under the root issuer: one path per provider (RFC 9700 §4.4.2),
    what the sign-in sends and what the operator registers there (``identity-providers add``)."""
    return root_issuer + FEDERATED_CALLBACK_PATH.format(provider=provider.name)


class FederatedSignIn:
    def __init__(
        self,
        db: Database,
        *,
        identity_providers: IdentityProviderService,
        openid: OpenIdProviders,
        accounts: AccountService,
        journeys: JourneyService,
        interactions: InteractionService,
        root_issuer: str,
    ) -> None:
        self._db = db
        self._identity_providers = identity_providers
        self._openid = openid
        self._accounts = accounts
        self._journeys = journeys
        self._interactions = interactions
        self._root_issuer = root_issuer

    def callback_url(self, provider: IdentityProvider) -> str:
        """This server's redirect URI at ``provider``: one path per provider (RFC 9700 §4.4.2)."""
        return callback_url(self._root_issuer, provider)

    async def start(self, interaction_id: str, browser_secret: str | None, name: str) -> ToProvider:
        """The authorization request to provider ``name`` (OIDC Core §3.1.2.1) for the interaction's journey."""

        async def chosen(tx: Transaction) -> IdentityProvider:
            journey = await self._journeys.pending(tx, interaction_id, browser_secret)
            if journey.user_id is not None:
                raise InvalidRequest("You are signed in already: go on to the consent page.")
            provider = await self._identity_providers.find(tx, name)
            if provider is None:
                raise NotFound(f"There is no identity provider named {name!r} here.")
            return provider

        provider = await self._db.run(chosen)
        try:
            configuration = await self._openid.configuration(provider)
        except UpstreamSignInFailed as error:
            raise SignInStopped(SignInProblem(error, interaction_id)) from None

        async def unit(tx: Transaction) -> ToProvider:
            journey = await self._journeys.pending(tx, interaction_id, browser_secret)
            started = await self._identity_providers.start_sign_in(tx, provider, journey.id, interaction_id)
            await self._journeys.upstream_sign_in(tx, journey.id, Step.UPSTREAM_SIGN_IN_STARTED, f"at {provider.name}")
            url = self._openid.authorization_url(provider, configuration, started, self.callback_url(provider))
            return ToProvider(url)

        return await self._db.run(unit)

    async def callback(self, name: str, params: Params, browser_secret: str | None) -> tuple[str, Onward]:
        """The provider's answer at ``/federated/{name}/callback``: a session and where to go next.

        Raises :class:`SignInStopped` (a page) for an answer that cannot be matched or fails a check.
        """
        state, code, error, returned_issuer = (params.get(key) for key in ("state", "code", "error", "iss"))
        if state is None:
            raise SignInStopped(SignInProblem(InvalidRequest("This answer has no state: it matches no sign-in."), None))

        async def taken(tx: Transaction) -> tuple[UpstreamSignIn | None, IdentityProvider | None]:
            sign_in = await self._identity_providers.take_sign_in(tx, state)
            provider = await self._identity_providers.provider(tx, sign_in.provider_id) if sign_in else None
            return sign_in, provider

        sign_in, provider = await self._db.run(taken)
        if sign_in is None or provider is None:
            problem = InvalidRequest("This answer matches no sign-in in progress: it is unknown, or already used.")
            raise SignInStopped(SignInProblem(problem, None))
        fail = _Failure(self._db, self._journeys, sign_in, provider)
        if provider.name != name:  # RFC 9700 §4.4.2: the state was sent to another provider than this path's
            await fail.stop(
                f"an answer for {provider.name} came to the callback of {name!r} (mix-up, RFC 9700 §4.4)",
                UpstreamSignInFailed("This answer came back from another provider than the one you chose."),
            )
        try:  # the journey still waits for this sign-in, in the browser that started it
            await self._db.run(lambda tx: self._journeys.pending(tx, sign_in.interaction_id, browser_secret))
        except InvalidRequest as refused:
            await fail.stop(f"the answer cannot continue the sign-in: {refused.description}", refused)
        if sign_in.expired:
            await fail.stop(f"{provider.name} answered too late", UpstreamSignInFailed("The sign-in took too long."))
        configuration = await fail.guard(self._openid.configuration(provider))
        if returned_issuer is not None and returned_issuer != configuration.issuer:
            await fail.stop(
                f"the answer names another issuer, {returned_issuer!r} (RFC 9207 §2.4)",
                UpstreamSignInFailed(f"This answer does not show that it comes from {provider.name} (RFC 9207)."),
            )
        if returned_issuer is None and configuration.sends_iss:
            await fail.stop(
                "the answer has no iss, though the provider's metadata says it sends one (RFC 9207 §2.4)",
                UpstreamSignInFailed(f"This answer does not show that it comes from {provider.name} (RFC 9207)."),
            )
        if error is not None:
            await fail.stop(
                f"{provider.name} answered {error}",
                SignInRefused(f"{provider.name} did not sign you in ({error})."),
            )
        if code is None:
            await fail.stop("the answer has neither code nor error", UpstreamSignInFailed("The answer has no code."))
        private_key = (
            self._identity_providers.private_key(provider) if provider.auth_method == "private_key_jwt" else None
        )
        tokens = await fail.guard(
            self._openid.redeem(
                provider,
                configuration,
                code=code,
                code_verifier=sign_in.code_verifier,
                redirect_uri=self.callback_url(provider),
                private_key=private_key,
            )
        )
        claims = await fail.guard(
            self._openid.verify_id_token(provider, configuration, tokens.id_token, sign_in.nonce_hash)
        )
        if not ("email" in claims and all(rule.claim in claims for rule in provider.claim_rules)):
            extra = await fail.guard(
                self._openid.user_info(provider, configuration, tokens.access_token, claims["sub"])
            )
            claims = {**extra, **claims}  # the ID token's claims, checked above, win
        refusal = provider.refusal(claims)
        if refusal is not None:
            await fail.stop(refusal, SignInRefused(f"You may not sign in here: {refusal}."))
        return await self._signed_in(fail, sign_in, provider, claims, browser_secret)

    async def _signed_in(
        self,
        fail: _Failure,
        sign_in: UpstreamSignIn,
        provider: IdentityProvider,
        claims: dict[str, object],
        browser_secret: str | None,
    ) -> tuple[str, Onward]:
        sub = str(claims["sub"])
        email, name = _text(claims.get("email")), _text(claims.get("name"))

        async def unit(tx: Transaction) -> tuple[str, Onward | Downstream] | User:
            journey = await self._journeys.pending(tx, sign_in.interaction_id, browser_secret)
            known = await self._identity_providers.identity(tx, provider, sub)
            user = await self._accounts.user(tx, known.user_id) if known else None
            if user is None:
                user = await self._accounts.add_federated_user(
                    tx, f"{provider.name}/{email or sub}", f"{provider.name}/{sub}"
                )
            if user.disabled_at is not None:
                return user
            await self._identity_providers.link(tx, FederatedIdentity(provider.id, sub, user.id, email, name))
            await self._journeys.record(
                tx, journey.id, Step.UPSTREAM_SIGN_IN_COMPLETED, f"{provider.name} vouched for {user.username}"
            )
            how = f"{user.username}, through {provider.name} (OpenID Connect)"
            return await self._interactions.signed_in(tx, journey, user, how, sign_in.interaction_id)

        outcome = await self._db.run(unit)
        if isinstance(outcome, User):
            await fail.stop(
                f"{outcome.username} is disabled",
                SignInRefused("This account is disabled. Ask the operator of this server to enable it."),
            )
        session, onward = outcome
        return session, await self._interactions.onward(onward)


def _text(value: object) -> str | None:
    """A claim shown to people: a string, cut to a sensible length; anything else is left out."""
    return value[:200] if isinstance(value, str) and value else None
