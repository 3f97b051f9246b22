"""Steps 5, 7 and 8: the token endpoint, for a code (OAuth 2.1 §4.1.3), a refresh token (§4.3) or
the client's own credentials (§4.2), and the revocation endpoint (RFC 7009).

Every request goes to the ``token_endpoint`` of the issuer the flow recorded (CL-24), names the
MCP server in ``resource`` (RFC 8707 §2.2, CL-19) and authenticates the client as it was
registered (CL-13): a public client sends its ``client_id`` only, a confidential one its secret
(Basic or in the form) or a fresh ``private_key_jwt`` assertion (RFC 7523 §2.2). Refresh tokens
rotate: the one in the response replaces the one sent, which the server has just revoked (CL-29).

With a DPoP key (RFC 9449 §5) each request carries a fresh proof in a ``DPoP`` header; an answer
``use_dpop_nonce`` is retried once with the ``DPoP-Nonce`` it names (§8), and the tokens come
back with ``token_type`` DPoP, bound to the key.
"""

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self
from urllib.parse import quote_plus

import httpx2

from mcp_authz.client import assertion
from mcp_authz.client.authorization import PendingAuthorization
from mcp_authz.client.dpop import USE_NONCE, DpopKey
from mcp_authz.client.errors import AuthorizationServerError, InvalidClient, TokenError, describe
from mcp_authz.client.registration import PRIVATE_KEY_JWT, Registration
from mcp_authz.client.wire import OAuthErrorResponse
from mcp_authz.shared.metadata import AuthorizationServerMetadata
from mcp_authz.shared.scopes import format_scope
from mcp_authz.shared.token_response import TokenResponse

#: The grants a run can use (``--grant``): a user's approval, or the client's own credentials.
AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
#: Enterprise-managed authorization (SEP-990): an ID-JAG from the user's IdP, then the jwt-bearer grant.
ENTERPRISE = "enterprise"
#: Workload identity federation (SEP-1933, draft): the workload's own JWT at the jwt-bearer grant.
WORKLOAD = "workload"
#: The grants without a user at this authorization server: no browser, no code, no refresh token.
NO_BROWSER_GRANTS = (CLIENT_CREDENTIALS, ENTERPRISE, WORKLOAD)
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_JAG_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id-jag"

#: An access token this close to its expiry is treated as expired: it could lapse in flight.
EXPIRY_MARGIN = 30


@dataclass(frozen=True)
class Tokens:
    """The tokens one client holds for one resource from one issuer (CL-27)."""

    resource: str
    issuer: str
    client_id: str
    access_token: str
    refresh_token: str | None = None
    #: Seconds since the epoch; ``None`` when the server did not say (then only a 401 tells).
    expires_at: int | None = None
    scope: str | None = None
    #: ``DPoP`` for tokens bound to the registration's DPoP key (RFC 9449 §5); ``None`` or ``Bearer`` otherwise.
    token_type: str | None = None

    @property
    def dpop_bound(self) -> bool:
        return (self.token_type or "").lower() == "dpop"

    @classmethod
    def from_response(cls, response: TokenResponse, *, resource: str, issuer: str, client_id: str) -> Self:
        return cls(
            resource=resource,
            issuer=issuer,
            client_id=client_id,
            access_token=response.access_token,
            refresh_token=response.refresh_token,
            expires_at=int(time.time()) + response.expires_in if response.expires_in is not None else None,
            scope=response.scope,
            token_type=response.token_type,
        )

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at - EXPIRY_MARGIN


async def exchange_code(
    http: httpx2.AsyncClient,
    metadata: AuthorizationServerMetadata,
    registration: Registration,
    pending: PendingAuthorization,
    code: str,
    dpop: DpopKey | None = None,
) -> Tokens:
    """The code and its verifier for tokens (OAuth 2.1 §4.1.3, CL-25).

    ``redirect_uri`` is sent too: OAuth 2.1 drops it, OAuth 2.0 servers require it, and it is
    the exact URI of the authorization request.
    """
    if metadata.issuer != pending.issuer:  # CL-24: the code goes back only where it came from
        raise TokenError(f"the code from {pending.issuer} is not sent to the token endpoint of {metadata.issuer}")
    form = {
        "grant_type": AUTHORIZATION_CODE,
        "code": code,
        "code_verifier": pending.code_verifier,
        "redirect_uri": pending.redirect_uri,
        "resource": pending.resource,
    }
    response = await _token_request(http, metadata, registration, form, dpop)
    return Tokens.from_response(response, resource=pending.resource, issuer=pending.issuer, client_id=pending.client_id)


async def refresh(
    http: httpx2.AsyncClient,
    metadata: AuthorizationServerMetadata,
    registration: Registration,
    tokens: Tokens,
    dpop: DpopKey | None = None,
) -> Tokens:
    """A refresh token for new tokens (OAuth 2.1 §4.3, CL-29), for the same resource (CL-19).

    If the response carries no refresh token, the one sent stays valid (OAuth 2.1 §4.3.3).
    """
    assert tokens.refresh_token is not None
    form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token, "resource": tokens.resource}
    response = await _token_request(http, metadata, registration, form, dpop)
    renewed = Tokens.from_response(response, resource=tokens.resource, issuer=tokens.issuer, client_id=tokens.client_id)
    return renewed if renewed.refresh_token else replace(renewed, refresh_token=tokens.refresh_token)


async def client_credentials(
    http: httpx2.AsyncClient,
    metadata: AuthorizationServerMetadata,
    registration: Registration,
    resource: str,
    scope: tuple[str, ...] | None,
    dpop: DpopKey | None = None,
) -> Tokens:
    """A token for the client itself, with its own credentials (OAuth 2.1 §4.2; MCP ext-auth SEP-1046).

    No refresh token is kept: OAuth 2.1 §4.2.3 says none should be issued, and a new request
    with the same credentials is what renews the token.
    """
    form = {"grant_type": CLIENT_CREDENTIALS, "resource": resource}
    if scope:
        form["scope"] = format_scope(scope)
    response = await _token_request(http, metadata, registration, form, dpop)
    got = Tokens.from_response(response, resource=resource, issuer=metadata.issuer, client_id=registration.client_id)
    return replace(got, refresh_token=None)


async def jwt_bearer(
    http: httpx2.AsyncClient,
    metadata: AuthorizationServerMetadata,
    registration: Registration,
    assertion_jwt: str,
    resource: str,
    scope: tuple[str, ...] | None,
    dpop: DpopKey | None = None,
) -> Tokens:
    """A token for an assertion: an IdP's ID-JAG (SEP-990) or a workload's JWT (SEP-1933); RFC 7523 §2.1.

    With ``dpop`` the request carries a proof and the token is bound to its key (RFC 9449 §5), as for the
    other grants; a ``use_dpop_nonce`` answer spent nothing, so the same assertion goes again with the nonce.
    No refresh token is kept: a new assertion is what renews the token (the ID-JAG draft §5).
    """
    form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion_jwt, "resource": resource}
    if scope:
        form["scope"] = format_scope(scope)
    response = await _token_request(http, metadata, registration, form, dpop)
    got = Tokens.from_response(response, resource=resource, issuer=metadata.issuer, client_id=registration.client_id)
    return replace(got, refresh_token=None)


@dataclass(frozen=True)
class IdentityProvider:
    """Where ``--grant enterprise`` gets its ID-JAG: the IdP's token endpoint, this client there, the user's token."""

    token_endpoint: str
    client_id: str
    client_secret: str | None
    #: The user's ID token (or access token) at the IdP, and its RFC 8693 token type.
    subject_token: str
    subject_token_type: str


async def id_jag(
    http: httpx2.AsyncClient, idp: IdentityProvider, audience: str, resource: str, scope: tuple[str, ...] | None
) -> str:
    """RFC 8693 token exchange at the IdP for an ID-JAG naming ``audience`` (the MCP server's issuer) and
    ``resource`` (SEP-990 step 1; draft-ietf-oauth-identity-assertion-authz-grant §4.3)."""
    form = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "requested_token_type": ID_JAG_TOKEN_TYPE,
        "subject_token": idp.subject_token,
        "subject_token_type": idp.subject_token_type,
        "audience": audience,
        "resource": resource,
        "client_id": idp.client_id,
    }
    if scope:
        form["scope"] = format_scope(scope)
    auth = httpx2.BasicAuth(quote_plus(idp.client_id), quote_plus(idp.client_secret)) if idp.client_secret else None
    try:
        response = await http.post(idp.token_endpoint, data=form, auth=auth)  # type: ignore[arg-type]
    except httpx2.TransportError as exc:
        raise AuthorizationServerError(
            f"cannot reach the IdP's token endpoint {idp.token_endpoint}: {describe(exc)}"
        ) from None
    if response.status_code != 200:
        raise TokenError(f"the IdP refused the token exchange: {OAuthErrorResponse.read(response).text}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise TokenError("the IdP's token exchange response has no access_token")
    if body.get("issued_token_type") != ID_JAG_TOKEN_TYPE:
        raise TokenError(f"the IdP issued {body.get('issued_token_type')!r}, not an ID-JAG ({ID_JAG_TOKEN_TYPE})")
    return str(body["access_token"])


async def revoke(http: httpx2.AsyncClient, endpoint: str, registration: Registration, tokens: Tokens) -> str:
    """Revoke the refresh token, else the access token (RFC 7009 §2.1); the kind revoked.

    The client authenticates as at the token endpoint (RFC 7009 §2.1). Revoking a refresh token
    should revoke the access tokens of its grant too (RFC 7009 §2.1). A 200 means the token is
    no longer valid, whether or not the server knew it (RFC 7009 §2.2).
    """
    hint = "refresh_token" if tokens.refresh_token else "access_token"
    form, auth = _client_authentication(
        registration, {"token": tokens.refresh_token or tokens.access_token, "token_type_hint": hint}
    )
    try:
        # httpx2 leaves None (no credentials) out of post()'s auth type; the request() it calls takes it.
        response = await http.post(endpoint, data=form, auth=auth)  # type: ignore[arg-type]
    except httpx2.TransportError as exc:
        raise AuthorizationServerError(f"cannot reach the revocation endpoint {endpoint}: {describe(exc)}") from None
    if response.status_code != 200:
        raise TokenError(f"the revocation endpoint refused the request: {OAuthErrorResponse.read(response).text}")
    return hint


def _client_authentication(
    registration: Registration, form: dict[str, str]
) -> tuple[dict[str, str], httpx2.BasicAuth | None]:
    """``form`` with the client's credentials, or Basic auth, as it registered (CL-13, RFC 6749 §2.3)."""
    form = {**form, "client_id": registration.client_id} if registration.client_id else dict(form)  # SEP-1933: none
    if registration.token_endpoint_auth_method == PRIVATE_KEY_JWT and registration.private_key_file:
        key = assertion.load(Path(registration.private_key_file), registration.private_key_alg)
        form["client_assertion_type"] = assertion.ASSERTION_TYPE
        form["client_assertion"] = assertion.sign(key, registration.client_id, registration.issuer)
        return form, None
    if registration.client_secret and registration.token_endpoint_auth_method == "client_secret_basic":
        # RFC 6749 §2.3.1: both parts are form-encoded before they are joined and base64-encoded.
        del form["client_id"]
        return form, httpx2.BasicAuth(quote_plus(registration.client_id), quote_plus(registration.client_secret))
    if registration.client_secret:
        form["client_secret"] = registration.client_secret
    return form, None


async def _post_token(
    http: httpx2.AsyncClient,
    metadata: AuthorizationServerMetadata,
    registration: Registration,
    form: dict[str, str],
    dpop: DpopKey | None,
    nonce: str | None,
) -> httpx2.Response:
    """One request to the token endpoint: a fresh assertion if any (its jti), a fresh DPoP proof if any."""
    sent, auth = _client_authentication(registration, form)
    headers = {"DPoP": dpop.proof("POST", metadata.token_endpoint, nonce=nonce)} if dpop else {}
    try:
        # httpx2 leaves None (no credentials) out of post()'s auth type; the request() it calls takes it.
        return await http.post(metadata.token_endpoint, data=sent, auth=auth, headers=headers)  # type: ignore[arg-type]
    except httpx2.TransportError as exc:
        raise AuthorizationServerError(
            f"cannot reach the token endpoint {metadata.token_endpoint}: {describe(exc)}"
        ) from None


async def _token_request(
    http: httpx2.AsyncClient,
    metadata: AuthorizationServerMetadata,
    registration: Registration,
    form: dict[str, str],
    dpop: DpopKey | None = None,
) -> TokenResponse:
    response = await _post_token(http, metadata, registration, form, dpop, None)
    asked = response.headers.get("dpop-nonce")
    if dpop is not None and asked and OAuthErrorResponse.read(response).error == USE_NONCE:
        response = await _post_token(http, metadata, registration, form, dpop, asked)  # once, with it (§8)
    if response.status_code != 200:
        error = OAuthErrorResponse.read(response)
        if response.status_code == 401 or error.error == "invalid_client":
            raise InvalidClient(f"the token endpoint does not accept client {registration.client_id}: {error.text}")
        raise TokenError(f"the token endpoint refused the request: {error.text}")
    try:
        got = TokenResponse.from_json(response.json())
    except ValueError as exc:
        raise TokenError(f"the token response is not usable: {exc}") from None
    if dpop is None and got.token_type.lower() == "dpop":
        raise TokenError("the token endpoint sent a DPoP token, but this request carried no DPoP proof (RFC 9449 §5)")
    return got
