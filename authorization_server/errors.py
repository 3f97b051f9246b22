"""OAuth errors as values: each class carries its registered error code and HTTP status.

Codes come from RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 7591 §3.2.2,
RFC 8707 §2, RFC 9449 §12.2 and RFC 9101 §6.1 (registered by OpenID Connect Core §3.1.2.6)
(``temporarily_unavailable`` is RFC 6749 §4.1.2.1's, used here at every endpoint); ``not_found``
and ``too_many_requests`` are this project's own, for API paths that name something that does not
exist and for requests over a rate limit (RFC 6585 §4 gives the status, no RFC the code). An error
holds two texts: ``description`` is sent to the client as ``error_description``; ``detail`` is for
the log only. Neither ever contains a token, code, secret or password.

Hierarchy::

    OAuthError
     ├── InvalidRequest          invalid_request            400
     │    ├── RequestTooLarge    invalid_request            413
     │    └── RequestTimeout     invalid_request            408
     ├── InvalidClient           invalid_client             401
     ├── InvalidToken            invalid_token              401
     ├── AdminSignInRequired     unauthorized               401
     ├── InvalidGrant            invalid_grant              400
     ├── InvalidDpopProof        invalid_dpop_proof         400
     ├── UseDpopNonce            use_dpop_nonce             400
     ├── UnauthorizedClient      unauthorized_client        400
     ├── UnsupportedGrantType    unsupported_grant_type     400
     ├── UnsupportedResponseType unsupported_response_type  400
     ├── RequestNotSupported     request_not_supported      400
     ├── RequestUriNotSupported  request_uri_not_supported  400
     ├── UnsupportedTokenType    unsupported_token_type     400
     ├── InvalidScope            invalid_scope              400
     ├── InvalidTarget           invalid_target             400
     ├── AccessDenied            access_denied              403
     │    ├── AccountDisabled    access_denied              403
     │    └── SignInRefused      access_denied              403
     ├── InvalidRedirectUri      invalid_redirect_uri       400
     ├── InvalidClientMetadata   invalid_client_metadata    400
     ├── NotFound                not_found                  404
     ├── UpstreamSignInFailed    upstream_sign_in_failed    502
     ├── TooManyRequests         too_many_requests          429
     ├── TemporarilyUnavailable  temporarily_unavailable    503
     └── ServerError             server_error               500
"""

import re
from typing import ClassVar

from starlette.responses import JSONResponse

#: RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_NOT_NQSCHAR = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An error response as defined by the OAuth RFCs (RFC 6749 §5.2 for its JSON form)."""

    error: ClassVar[str] = "server_error"
    status_code: ClassVar[int] = 400

    def __init__(self, description: str, *, detail: str | None = None) -> None:
        super().__init__(description)
        readable = description.replace("§", "section ").replace('"', "'")
        self.description = _NOT_NQSCHAR.sub("?", readable)
        self.detail = detail

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def headers(self) -> dict[str, str]:
        """Response headers this error calls for, whether it is answered as JSON or as a page."""
        return {}

    def to_response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        """The JSON error response, never cached (OAuth 2.1 §3.2.4)."""
        return JSONResponse(self.to_json(), self.status_code, headers={**NO_STORE, **self.headers(), **(headers or {})})

    def __str__(self) -> str:
        return f"{self.error}: {self.description}"


class InvalidRequest(OAuthError):
    """A required parameter is missing, a value is malformed or a parameter is repeated."""

    error = "invalid_request"


class RequestTooLarge(InvalidRequest):
    """The request body is larger than this endpoint accepts."""

    status_code = 413


class RequestTimeout(InvalidRequest):
    """The request body did not arrive in time (RFC 9110 §15.5.9); the connection is closed after the answer."""

    status_code = 408

    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


class InvalidClient(OAuthError):
    """Client authentication failed: unknown client, wrong secret or wrong method (RFC 6749 §5.2).

    Answered with 401 and a ``WWW-Authenticate`` challenge, so that MCP clients whose stored
    registration is gone register again.
    """

    error = "invalid_client"
    status_code = 401


class InvalidToken(OAuthError):
    """The bearer token is missing, wrong or names nothing here (RFC 6750 §3.1).

    Used for the registration access token of RFC 7592 §2: answered with 401 and a ``Bearer``
    challenge naming the issuer as the realm.
    """

    error = "invalid_token"
    status_code = 401

    def __init__(self, description: str, *, realm: str, detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        self.realm = realm

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer realm="{self.realm}", error="invalid_token"'}


class AdminSignInRequired(OAuthError):
    """The admin pages need the admin's credentials, by HTTP Basic (RFC 7617 §2; this project's code).

    Answered with 401 and the ``Basic`` challenge, so that a browser asks for them.
    """

    error = "unauthorized"
    status_code = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="admin", charset="UTF-8"'}


class InvalidGrant(OAuthError):
    """The code or refresh token is invalid, expired, revoked, used, or bound to something else."""

    error = "invalid_grant"


class InvalidDpopProof(OAuthError):
    """The DPoP proof is missing where required, malformed, or fails a check of RFC 9449 §4.3 (§5)."""

    error = "invalid_dpop_proof"


class UseDpopNonce(OAuthError):
    """The DPoP proof must carry the server's nonce, sent in the ``DPoP-Nonce`` header (RFC 9449 §8)."""

    error = "use_dpop_nonce"

    def __init__(self, description: str, *, nonce: str, detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        self.nonce = nonce

    def headers(self) -> dict[str, str]:
        return {"DPoP-Nonce": self.nonce}


class UnauthorizedClient(OAuthError):
    """The client is not allowed to use this grant or response type."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class RequestNotSupported(OAuthError):
    """The authorization request carries a ``request`` object, which this server does not support (RFC 9101 §6.1)."""

    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    """The authorization request carries a ``request_uri``: no request objects, no PAR here (RFC 9101 §6.1)."""

    error = "request_uri_not_supported"


class UnsupportedTokenType(OAuthError):
    """The revocation request's ``token_type_hint`` names a type this server does not revoke (RFC 7009 §2.2.1)."""

    error = "unsupported_token_type"


class InvalidScope(OAuthError):
    """The requested scope is unknown, malformed, or exceeds what was granted."""

    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """The ``resource`` is invalid, missing, unknown or not allowed here (RFC 8707 §2)."""

    error = "invalid_target"


class AccessDenied(OAuthError):
    """The resource owner denied the request (RFC 6749 §4.1.2.1)."""

    error = "access_denied"
    status_code = 403


class AccountDisabled(AccessDenied):
    """The password was right, but the operator disabled the account (``users disable``, issue 17).

    Said only after the password was checked, so it tells no more than a wrong password does to
    someone who does not know it.
    """


class InvalidRedirectUri(OAuthError):
    """A registered redirect URI is not acceptable (RFC 7591 §3.2.2)."""

    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    """A client metadata field is invalid (RFC 7591 §3.2.2)."""

    error = "invalid_client_metadata"


class SignInRefused(AccessDenied):
    """The identity provider vouched for the person, but this server's rules for it refuse them: an email
    domain not allowed, a claim rule not met, a disabled account (issue 16)."""


class UpstreamSignInFailed(OAuthError):
    """A sign-in through an identity provider could not be completed: the provider cannot be reached, or
    its answer fails a check (OIDC Core §3.1.3.7, RFC 9207, RFC 9700 §4.4); the description says which,
    never with a code or token in it (issue 16). A project code, 502: the upstream's answer is unusable."""

    error = "upstream_sign_in_failed"
    status_code = 502


class NotFound(OAuthError):
    """The path names something this server does not have (a project code, not an RFC one)."""

    error = "not_found"
    status_code = 404


class TooManyRequests(OAuthError):
    """Over a rate limit, or a username locked after failed sign-ins (RFC 6585 §4).

    ``Retry-After`` says in how many seconds to try again (RFC 9110 §10.2.3).
    """

    error = "too_many_requests"
    status_code = 429

    def __init__(self, description: str, *, retry_after: int, detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TemporarilyUnavailable(OAuthError):
    """The server is too busy for this request now and can serve it shortly (RFC 6749 §4.1.2.1).

    Answered with 503 and ``Retry-After`` (RFC 9110 §15.6.4, §10.2.3), at every endpoint: every
    slot for fetching client metadata documents and JWK Sets is taken (``safe_fetch.py``).
    """

    error = "temporarily_unavailable"
    status_code = 503

    def __init__(self, description: str, *, retry_after: int = 1, detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServerError(OAuthError):
    """Something failed on our side; the description never says what."""

    error = "server_error"
    status_code = 500
