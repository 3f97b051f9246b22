"""This server as an OpenID Connect relying party of an identity provider (OIDC Core §3.1, issue 16).

- Discovery (OIDC Discovery §4): ``{issuer}/.well-known/openid-configuration`` and the provider's
  JWK Set are fetched through the SSRF-safe fetcher (``safe_fetch.py``: size cap, timeout,
  cached within bounds); the document's ``issuer`` must be the configured one exactly (§4.3).
- The authorization request (OIDC Core §3.1.2.1): code flow, PKCE S256 (RFC 7636 §4.3), a
  ``state`` and a ``nonce``, and ``prompt=login``: the provider asks for the person's credentials
  every time, so that a session left open at the provider in a shared browser never signs the
  next person in here silently (decision 0047).
- The token request (OIDC Core §3.1.3.1) through the downstream flows' helper
  (``flow/downstream/providers.token_request``), authenticating with ``client_secret_basic``,
  ``client_secret_post`` or ``private_key_jwt`` (OIDC Core §9, RFC 7523).
- The UserInfo endpoint (OIDC Core §5.3), with the access token, when the ID token leaves out the
  claims the rules need (email, groups): its ``sub`` must be the ID token's (§5.3.4).
- ID token validation (OIDC Core §3.1.3.7): signed with an asymmetric algorithm the provider's
  metadata lists (never ``none``, never an HMAC keyed by the client secret), by a key of its JWK
  Set (fetched again once when the ``kid`` is unknown: the provider rotated its keys), ``iss``
  the issuer, ``aud`` holding our client id, ``azp`` our client id when present (and required
  with several audiences), ``exp`` in the future, ``iat`` present and not in the future, and
  the ``nonce`` the one this sign-in sent.

Nothing here logs or keeps a code or a token: the ID token's claims are returned, the rest dropped.
"""

import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx2
import jwt

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.errors import UpstreamSignInFailed
from mcp_authz.authorization_server.flow.downstream.providers import TIMEOUT, ProviderError, token_request
from mcp_authz.authorization_server.identity_providers.entities import IdentityProvider
from mcp_authz.authorization_server.identity_providers.service import StartedSignIn
from mcp_authz.authorization_server.safe_fetch import Busy, FetchFailed, SafeFetcher
from mcp_authz.authorization_server.secrets_at_rest import digest, new_secret
from mcp_authz.authorization_server.settings import downstream_client_secret
from mcp_authz.shared.json_fields import as_object, optional_bool, optional_str, optional_str_list, required_str
from mcp_authz.shared.loopback import is_https_or_loopback_http
from mcp_authz.shared.pkce import METHOD, s256_challenge
from mcp_authz.shared.scopes import format_scope

#: The most a discovery document or a JWK Set may weigh.
MAX_DOCUMENT_BYTES = 64 * 1024
#: Signature algorithms accepted for ID tokens: asymmetric only (OIDC Core §3.1.3.7 items 6-8).
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
#: Seconds of clock skew allowed on ``exp`` and ``iat``.
LEEWAY = 30
#: Lifetime of a ``private_key_jwt`` client assertion, seconds (RFC 7523 §3).
ASSERTION_TTL = 60


@dataclass(frozen=True)
class UpstreamTokens:
    """What the provider's token endpoint answered: used within the request, never stored nor logged."""

    id_token: str = field(repr=False)
    access_token: str | None = field(repr=False)


@dataclass(frozen=True)
class OpenIdConfiguration:
    """What a provider's discovery document says that a relying party needs (OIDC Discovery §3)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    id_token_signing_alg_values_supported: tuple[str, ...]
    #: RFC 9207 §3: the provider sends ``iss`` in every authorization response, so one without is refused.
    sends_iss: bool
    #: OIDC Core §5.3: where the person's claims are, when the ID token leaves them out (§5.4).
    userinfo_endpoint: str | None = None

    @classmethod
    def from_json(cls, data: object) -> "OpenIdConfiguration":
        document = as_object(data, "OpenID provider configuration")
        methods = optional_str_list(document, "code_challenge_methods_supported")
        if methods is not None and METHOD not in methods:
            raise ValueError(f"it does not offer PKCE {METHOD} (RFC 7636)")
        configuration = cls(
            issuer=required_str(document, "issuer"),
            authorization_endpoint=required_str(document, "authorization_endpoint"),
            token_endpoint=required_str(document, "token_endpoint"),
            jwks_uri=required_str(document, "jwks_uri"),
            id_token_signing_alg_values_supported=optional_str_list(document, "id_token_signing_alg_values_supported")
            or ("RS256",),
            sends_iss=optional_bool(document, "authorization_response_iss_parameter_supported") is True,
            userinfo_endpoint=optional_str(document, "userinfo_endpoint"),
        )
        endpoints = (configuration.authorization_endpoint, configuration.token_endpoint, configuration.jwks_uri)
        for endpoint in (*endpoints, configuration.userinfo_endpoint or configuration.token_endpoint):
            if not is_https_or_loopback_http(endpoint):
                raise ValueError(f"it names an endpoint that is not https: {endpoint}")
        return configuration


async def check_provider(openid: "OpenIdProviders", provider: IdentityProvider) -> OpenIdConfiguration:
    """A provider about to be added, checked by discovery (OIDC Discovery §4) as sign-ins will fetch it, read
    anew; ``ValueError`` saying why it is not usable (the command line and the console alike)."""
    try:
        return await openid.configuration(provider, fresh=True)
    except UpstreamSignInFailed as failed:
        raise ValueError(f"{provider.issuer} is not usable: {failed.detail or failed.description}") from None


def configuration_url(issuer: str) -> str:
    """OIDC Discovery §4: the issuer, without a trailing slash, then ``/.well-known/openid-configuration``."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class OpenIdProviders:
    """Discovery, the authorization request, the token request and ID token validation, for any provider."""

    def __init__(self, fetcher: SafeFetcher) -> None:
        self._fetcher = fetcher

    async def configuration(self, provider: IdentityProvider, *, fresh: bool = False) -> OpenIdConfiguration:
        """The provider's configuration; :class:`UpstreamSignInFailed` if it cannot be had or is not its own.

        On a private network address only when the operator allowed it for this provider (decision 0047).
        ``fresh``: read anew, not from the cache (the operator checking a provider before adding it).
        """
        url = configuration_url(provider.issuer)
        try:
            found = await self._fetcher.get_json(
                "openid-configuration",
                url,
                max_bytes=MAX_DOCUMENT_BYTES,
                parse=OpenIdConfiguration.from_json,
                fresh=fresh,
                allow_private_network=provider.allow_private_network,
            )
        except (FetchFailed, Busy, ValueError) as exc:
            raise UpstreamSignInFailed(
                f"{provider.name} cannot be reached just now: its configuration could not be read. Try again"
                " in a moment.",
                detail=f"{url}: {exc}",
            ) from None
        if found.issuer != provider.issuer:  # OIDC Discovery §4.3: exactly the issuer asked about
            raise UpstreamSignInFailed(
                f"{provider.name}'s configuration names another issuer: the sign-in was stopped.",
                detail=f"{url} names another issuer, {found.issuer!r} (OIDC Discovery §4.3)",
            )
        return found

    def authorization_url(
        self,
        provider: IdentityProvider,
        configuration: OpenIdConfiguration,
        started: StartedSignIn,
        redirect_uri: str,
    ) -> str:
        """OIDC Core §3.1.2.1 with PKCE S256 (RFC 7636 §4.3) and ``prompt=login`` (decision 0047)."""
        query = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": format_scope(provider.scopes),
            "state": started.state,
            "nonce": started.nonce,
            "code_challenge": s256_challenge(started.code_verifier),
            "code_challenge_method": METHOD,
            "prompt": "login",
        }
        endpoint = configuration.authorization_endpoint
        return endpoint + ("&" if urlsplit(endpoint).query else "?") + urlencode(query)

    async def redeem(
        self,
        provider: IdentityProvider,
        configuration: OpenIdConfiguration,
        *,
        code: str,
        code_verifier: str,
        redirect_uri: str,
        private_key: str | None,
    ) -> "UpstreamTokens":
        """The ID token for the code (OIDC Core §3.1.3.1), and the access token for the UserInfo endpoint only."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
            "redirect_uri": redirect_uri,
        }
        auth = None
        if provider.auth_method == "private_key_jwt":
            assert private_key is not None and provider.key_id is not None
            form["client_id"] = provider.client_id
            form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            form["client_assertion"] = client_assertion(provider, private_key, configuration.issuer)
        else:
            secret = downstream_client_secret(provider.client_secret_env or "")
            if secret is None:
                raise UpstreamSignInFailed(
                    f"Sign-in with {provider.name} is not set up completely on this server.",
                    detail=f"the environment variable {provider.client_secret_env} is not set",
                )
            if provider.auth_method == "client_secret_post":
                form["client_id"], form["client_secret"] = provider.client_id, secret
            else:  # client_secret_basic, RFC 6749 §2.3.1: each form-encoded first
                auth = (quote_plus(provider.client_id), quote_plus(secret))
        try:
            answer = await token_request(configuration.token_endpoint, form, auth, provider.name)
        except ProviderError as exc:
            raise UpstreamSignInFailed(f"{provider.name} did not complete the sign-in.", detail=str(exc)) from None
        id_token, access_token = answer.get("id_token"), answer.get("access_token")
        if not isinstance(id_token, str):
            raise UpstreamSignInFailed(
                f"{provider.name} sent no ID token.", detail="the token response has no id_token (OIDC Core §3.1.3.3)"
            )
        return UpstreamTokens(id_token, access_token if isinstance(access_token, str) else None)

    async def user_info(
        self, provider: IdentityProvider, configuration: OpenIdConfiguration, access_token: str | None, sub: str
    ) -> dict[str, Any]:
        """The claims of the UserInfo endpoint (OIDC Core §5.3), for those the ID token left out (§5.4: a provider
        may put them there only); ``{}`` without the endpoint or a token. Its ``sub`` must be the ID token's
        (§5.3.4), else :class:`UpstreamSignInFailed`."""
        if configuration.userinfo_endpoint is None or access_token is None:
            return {}
        try:
            async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.get(
                    configuration.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
                )
            claims = response.json() if response.status_code == 200 else None
        except (httpx2.HTTPError, ValueError) as exc:
            raise UpstreamSignInFailed(
                f"{provider.name} did not complete the sign-in.", detail=f"UserInfo: {type(exc).__name__}"
            ) from None
        if not isinstance(claims, dict):
            raise UpstreamSignInFailed(
                f"{provider.name} did not complete the sign-in.", detail=f"UserInfo answered {response.status_code}"
            )
        if claims.get("sub") != sub:
            raise UpstreamSignInFailed(
                f"The answer from {provider.name} failed a check, so you were not signed in.",
                detail="UserInfo names another sub than the ID token (OIDC Core §5.3.4)",
            )
        return claims

    async def verify_id_token(
        self, provider: IdentityProvider, configuration: OpenIdConfiguration, id_token: str, nonce_hash: str
    ) -> dict[str, Any]:
        """The ID token's claims once every check of OIDC Core §3.1.3.7 passed; else :class:`UpstreamSignInFailed`."""
        try:
            return await self._verify(provider, configuration, id_token, nonce_hash)
        except (jwt.PyJWTError, ValueError) as exc:
            raise UpstreamSignInFailed(
                f"The answer from {provider.name} failed a check, so you were not signed in (OIDC Core §3.1.3.7).",
                detail=f"ID token refused: {exc}",
            ) from None

    async def _verify(
        self, provider: IdentityProvider, configuration: OpenIdConfiguration, id_token: str, nonce_hash: str
    ) -> dict[str, Any]:
        header = jwt.get_unverified_header(id_token)
        alg = header.get("alg")
        allowed = [name for name in configuration.id_token_signing_alg_values_supported if name in ASYMMETRIC]
        if alg not in allowed:
            raise ValueError(f"alg {alg!r} is not one of the provider's asymmetric algorithms {allowed}")
        key = await self._key(provider, configuration, header.get("kid"), alg)
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=[alg],
            audience=provider.client_id,
            issuer=provider.issuer,
            leeway=LEEWAY,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_iat": True},
        )
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != provider.client_id:
            raise ValueError(f"azp {azp!r} is not this server's client id (OIDC Core §3.1.3.7 items 4-5)")
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(digest(nonce), nonce_hash):
            raise ValueError("the nonce is not the one this sign-in sent (OIDC Core §3.1.3.7 item 11)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise ValueError("sub is not a string")
        return claims

    async def _key(
        self, provider: IdentityProvider, configuration: OpenIdConfiguration, kid: object, alg: str
    ) -> jwt.PyJWK:
        """The key that signed the token: by ``kid`` from the JWK Set, fetched anew once if it is not there."""
        for fresh in (False, True):
            keys = await self._jwks(configuration.jwks_uri, fresh, private=provider.allow_private_network)
            usable = [key for key in keys.keys if key.public_key_use in (None, "sig")]
            found = [key for key in usable if kid is None or key.key_id == kid]
            if kid is None and len(found) > 1:
                found = [key for key in found if key.algorithm_name == alg]
            if found:
                return found[0]
        raise ValueError(f"no key {kid!r} in the provider's JWK Set")

    async def _jwks(self, url: str, fresh: bool, *, private: bool) -> jwt.PyJWKSet:
        try:
            return await self._fetcher.get_json(
                "openid-jwks",
                url,
                max_bytes=MAX_DOCUMENT_BYTES,
                parse=_jwk_set,
                fresh=fresh,
                allow_private_network=private,
            )
        except (FetchFailed, Busy) as exc:
            raise ValueError(f"the JWK Set cannot be read: {exc}") from None


def client_assertion(provider: IdentityProvider, private_key: str, audience: str) -> str:
    """A ``private_key_jwt`` client assertion (RFC 7523 §3, OIDC Core §9), its audience the provider's issuer."""
    now = int(clock.timestamp())
    claims = {
        "iss": provider.client_id,
        "sub": provider.client_id,
        "aud": audience,
        "jti": new_secret(),
        "iat": now,
        "exp": now + ASSERTION_TTL,
    }
    return jwt.encode(claims, private_key, algorithm="ES256", headers={"kid": provider.key_id or ""})


def _jwk_set(data: object) -> jwt.PyJWKSet:
    try:
        return jwt.PyJWKSet.from_dict(as_object(data, "JWK Set"))
    except jwt.PyJWTError as exc:  # PyJWKSetError (no usable key) and PyJWKError alike
        raise ValueError(f"the JWK Set is not usable: {exc}") from None
