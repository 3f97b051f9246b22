"""Talking to a downstream provider as its OAuth client (OAuth 2.1 §4.1, RFC 8414, RFC 7636, RFC 8707).

The provider is found by discovery from the connection's issuer (RFC 8414 §3; the document's
``issuer`` must be that issuer exactly, §3.3, and it must offer PKCE S256) or from the two
endpoints the connection names. The authorization request always carries a PKCE S256 challenge
and a ``state``; the code is redeemed with the same ``redirect_uri`` and the verifier, the client
authenticating with ``client_secret_basic`` (RFC 6749 §2.3.1) when the connection has a secret,
else as a public client. Nothing here logs a code, token or secret.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx2

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.journeys.entities import DownstreamTokens
from mcp_authz.authorization_server.mcp_servers.entities import McpConnection
from mcp_authz.authorization_server.settings import downstream_client_secret
from mcp_authz.shared.loopback import is_https_or_loopback_http
from mcp_authz.shared.metadata import AuthorizationServerMetadata
from mcp_authz.shared.pkce import METHOD, s256_challenge
from mcp_authz.shared.scopes import format_scope
from mcp_authz.shared.token_response import TokenResponse
from mcp_authz.shared.well_known import authorization_server_metadata_url

log = logging.getLogger("authorization_server")

TIMEOUT = 10.0
#: How long a provider's discovered metadata is used before it is fetched again, seconds.
METADATA_MAX_AGE = 300.0


class ProviderError(Exception):
    """The provider could not be used; the message says why, and never holds a secret."""


@dataclass(frozen=True)
class ProviderEndpoints:
    #: The issuer the provider's answers must name (RFC 9207); ``None`` when only endpoints were given.
    issuer: str | None
    authorization_endpoint: str
    token_endpoint: str
    #: Whether its metadata promises ``iss`` in every authorization response (RFC 9207 §3): then an
    #: answer without one is refused (§2.4), for it may come from another server (a mix-up attack).
    sends_iss: bool = False


class Providers:
    """The downstream providers' endpoints (discovered metadata cached), and the calls made to them."""

    def __init__(self) -> None:
        self._discovered: dict[str, tuple[ProviderEndpoints, float]] = {}

    async def endpoints(self, connection: McpConnection) -> ProviderEndpoints:
        if connection.issuer is None:
            assert connection.authorization_endpoint and connection.token_endpoint
            return ProviderEndpoints(None, connection.authorization_endpoint, connection.token_endpoint)
        cached = self._discovered.get(connection.issuer)
        if cached is not None and cached[1] > clock.monotonic():
            return cached[0]
        endpoints = await _discover(connection.issuer)
        self._discovered[connection.issuer] = (endpoints, clock.monotonic() + METADATA_MAX_AGE)
        return endpoints

    def authorization_url(
        self, connection: McpConnection, endpoints: ProviderEndpoints, *, state: str, verifier: str, redirect_uri: str
    ) -> str:
        """The authorization request (OAuth 2.1 §4.1.1) with PKCE S256 (RFC 7636 §4.3) and ``resource`` (RFC 8707)."""
        query = {
            "response_type": "code",
            "client_id": connection.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": s256_challenge(verifier),
            "code_challenge_method": METHOD,
        }
        if connection.scopes:
            query["scope"] = format_scope(connection.scopes)
        if connection.resource:
            query["resource"] = connection.resource
        separator = "&" if urlsplit(endpoints.authorization_endpoint).query else "?"
        return endpoints.authorization_endpoint + separator + urlencode(query)

    async def redeem(
        self, connection: McpConnection, endpoints: ProviderEndpoints, *, code: str, verifier: str, redirect_uri: str
    ) -> DownstreamTokens:
        """The code for tokens at the provider's token endpoint (OAuth 2.1 §4.1.3)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
        }
        return await self._token_request(connection, endpoints, form)

    async def refresh(
        self, connection: McpConnection, endpoints: ProviderEndpoints, refresh_token: str
    ) -> DownstreamTokens:
        """New tokens for a refresh token (OAuth 2.1 §4.3); a provider that rotates it sends a new one."""
        tokens = await self._token_request(
            connection, endpoints, {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        if tokens.refresh_token is None:  # not rotated: the old one stays valid (§4.3.1)
            tokens = DownstreamTokens(tokens.access_token, refresh_token, tokens.expires_at, tokens.scope)
        return tokens

    async def _token_request(
        self, connection: McpConnection, endpoints: ProviderEndpoints, form: dict[str, str]
    ) -> DownstreamTokens:
        if connection.resource:
            form["resource"] = connection.resource
        auth = None
        if connection.client_secret_env is None:
            form["client_id"] = connection.client_id
        else:
            secret = downstream_client_secret(connection.client_secret_env)
            if secret is None:
                raise ProviderError(f"the environment variable {connection.client_secret_env} is not set")
            auth = (quote_plus(connection.client_id), quote_plus(secret))  # RFC 6749 §2.3.1: form-encoded
        answer = await token_request(endpoints.token_endpoint, form, auth, connection.name)
        try:
            parsed = TokenResponse.from_json(answer)
        except ValueError as exc:
            raise ProviderError(f"the token response of {connection.name} is not usable: {exc}") from None
        expires_at = clock.now() + timedelta(seconds=parsed.expires_in) if parsed.expires_in else None
        return DownstreamTokens(parsed.access_token, parsed.refresh_token, expires_at, parsed.scope)


async def token_request(
    token_endpoint: str, form: dict[str, str], auth: tuple[str, str] | None, who: str
) -> dict[str, object]:
    """POST ``form`` to a provider's token endpoint (OAuth 2.1 §3.2.2); the answer's JSON object if it is a 200.

    ``auth``: HTTP Basic credentials (RFC 6749 §2.3.1), already form-encoded; ``who`` names the provider in
    a :class:`ProviderError`, which never holds what was sent or received.
    """
    try:
        async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
            # httpx2 leaves None (no credentials) out of post()'s auth type; the request() it calls takes it.
            response = await http.post(token_endpoint, data=form, auth=auth)  # type: ignore[arg-type]
        answer = response.json()
    except (httpx2.HTTPError, ValueError) as exc:
        raise ProviderError(f"the token endpoint of {who} did not answer usably: {type(exc).__name__}") from None
    if response.status_code != 200 or not isinstance(answer, dict):
        error = answer.get("error") if isinstance(answer, dict) else None
        raise ProviderError(f"the token endpoint of {who} refused: {error or response.status_code}")
    return answer


async def _discover(issuer: str) -> ProviderEndpoints:
    """RFC 8414 §3: fetch the issuer's metadata; §3.3: its ``issuer`` must be the one asked for."""
    url = authorization_server_metadata_url(issuer)
    try:
        async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
            response = await http.get(url)
        response.raise_for_status()
        metadata = AuthorizationServerMetadata.from_json(response.json())
    except (httpx2.HTTPError, ValueError) as exc:
        raise ProviderError(f"the metadata of {issuer} could not be read: {exc}") from None
    if metadata.issuer != issuer:
        raise ProviderError(f"the metadata at {url} names another issuer, {metadata.issuer!r} (RFC 8414 §3.3)")
    if METHOD not in (metadata.code_challenge_methods_supported or ()):
        raise ProviderError(f"{issuer} does not offer PKCE {METHOD} (RFC 7636)")
    for endpoint in (metadata.authorization_endpoint, metadata.token_endpoint):
        if not is_https_or_loopback_http(endpoint):
            raise ProviderError(f"{issuer} names an endpoint that is not https: {endpoint}")
    return ProviderEndpoints(
        metadata.issuer,
        metadata.authorization_endpoint,
        metadata.token_endpoint,
        sends_iss=metadata.authorization_response_iss_parameter_supported is True,
    )
