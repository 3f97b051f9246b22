"""Step 4: the authorization request and the checks on its response (OAuth 2.1 §4.1; RFC 9207).

Before the browser opens, everything the request is bound to is recorded in a
:class:`PendingAuthorization` (CL-20): the issuer whose metadata gave the endpoints, the
resource, the redirect URI, a fresh PKCE verifier (CL-17) and a fresh state (CL-18).

The response is accepted only if, in this order:

1. its ``state`` is the one sent (CL-18);
2. its ``iss`` passes RFC 9207 §2.4 (CL-23, :func:`check_iss`);
3. it carries no ``error`` (``access_denied`` is the user saying no);
4. it carries a ``code``.

Until 1 and 2 pass, nothing in the response is acted on or shown, its error parameters
included: a response forged by someone else must not put words in front of the user.
"""

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mcp_authz.client.errors import AuthorizationError, AuthorizationServerError
from mcp_authz.client.urls import UrlPolicy
from mcp_authz.shared.pkce import METHOD as PKCE_METHOD
from mcp_authz.shared.pkce import new_verifier, s256_challenge
from mcp_authz.shared.scopes import format_scope


@dataclass(frozen=True)
class PendingAuthorization:
    """One authorization request, as recorded before the user sees it (CL-20)."""

    issuer: str
    resource: str
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...] | None
    state: str
    code_verifier: str

    @property
    def parameters(self) -> list[tuple[str, str]]:
        """The request's query parameters (OAuth 2.1 §4.1.1, RFC 7636 §4.3, RFC 8707 §2)."""
        parameters = [
            ("response_type", "code"),
            ("client_id", self.client_id),
            ("redirect_uri", self.redirect_uri),
            ("code_challenge", s256_challenge(self.code_verifier)),
            ("code_challenge_method", PKCE_METHOD),
            ("state", self.state),
            ("resource", self.resource),
        ]
        if self.scope:
            parameters.append(("scope", format_scope(self.scope)))
        return parameters


def start(
    *, issuer: str, resource: str, client_id: str, redirect_uri: str, scope: tuple[str, ...] | None
) -> PendingAuthorization:
    """A new request with its own verifier and state, both 256 bits from the CSPRNG (CL-17, CL-18)."""
    return PendingAuthorization(
        issuer=issuer,
        resource=resource,
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=secrets.token_urlsafe(32),
        code_verifier=new_verifier(),
    )


def choose_scope(
    challenge_scope: tuple[str, ...] | None, scopes_supported: tuple[str, ...] | None
) -> tuple[tuple[str, ...] | None, str]:
    """The scope to ask for and where it came from (CL-15, MCP Scope Selection Strategy).

    The 401 challenge's ``scope`` is authoritative; else every scope of the protected resource
    metadata's ``scopes_supported``; else no ``scope`` parameter at all.
    """
    if challenge_scope:
        return challenge_scope, "from the 401 challenge"
    if scopes_supported:
        return scopes_supported, "the protected resource metadata's scopes_supported"
    return None, "none given by the MCP server, so the request names no scope"


OFFLINE_ACCESS = "offline_access"


def with_offline_access(
    scope: tuple[str, ...] | None, as_scopes_supported: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    """``scope`` with ``offline_access`` added when the authorization server lists it (CL-16, SEP-2207).

    This client wants a refresh token, so it MAY ask for ``offline_access``, but only where the
    authorization server's own metadata lists it, and only beside a scope it asks for anyway:
    ``offline_access`` alone would ask for nothing else.
    """
    if not scope or OFFLINE_ACCESS in scope or OFFLINE_ACCESS not in (as_scopes_supported or ()):
        return scope
    return (*scope, OFFLINE_ACCESS)


def authorization_url(endpoint: str, pending: PendingAuthorization, policy: UrlPolicy) -> str:
    """The URL the browser opens: ``endpoint`` with the request's parameters added.

    The endpoint's own query is kept (OAuth 2.1 §3.1). Only https (or http on loopback) URLs are
    ever opened, never ``javascript:``, ``data:`` or ``file:`` ones (CL-22).
    """
    problem = policy.problem(endpoint)
    if problem:
        raise AuthorizationServerError(f"refusing to open the authorization endpoint {endpoint!r}: {problem} (CL-22)")
    parts = urlsplit(endpoint)
    query = "&".join(part for part in (parts.query, urlencode(pending.parameters)) if part)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def parse_response(query: str) -> dict[str, str]:
    """The parameters of the redirect back to the client; none may appear twice (OAuth 2.1 §3.1)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise AuthorizationError("the authorization response repeats a parameter: it is not used (OAuth 2.1 §3.1)")
    return dict(pairs)


def check_state(received: str | None, pending: PendingAuthorization) -> None:
    """The response must carry the state this request sent (CL-18, OAuth 2.1 §7.12)."""
    if received is None:
        raise AuthorizationError("the authorization response has no state: it is not the answer to this request")
    if not hmac.compare_digest(received.encode(), pending.state.encode()):
        raise AuthorizationError(
            "the authorization response's state is not the one sent: it is not the answer to this request (CSRF?)"
        )


def check_iss(received: str | None, issuer: str, advertised: bool) -> str:
    """RFC 9207 §2.4, as MCP's four rows (CL-23); returns the row applied.

    ======================  ===========  ============================================
    metadata flag           ``iss``      outcome
    ======================  ===========  ============================================
    true                    present      compared with the issuer: equal or rejected
    true                    absent       rejected
    false or absent         present      compared with the issuer: equal or rejected
    false or absent         absent       accepted
    ======================  ===========  ============================================

    The comparison is of exact strings, after form-decoding only: no case folding, no default
    port, no trailing slash, no percent-decoding beyond the form's.
    """
    if received is None:
        if advertised:
            raise AuthorizationError(
                f"{issuer} advertises authorization_response_iss_parameter_supported, but the response "
                "has no iss: rejected (RFC 9207 §2.4)"
            )
        return "no iss, and the metadata does not promise one: accepted"
    if received != issuer:
        raise AuthorizationError(
            f"the authorization response comes from the issuer {received!r}, not {issuer!r}: "
            "possible mix-up attack, the response is not used (RFC 9207 §2.4)"
        )
    promised = "promised by" if advertised else "not promised by"
    return f"iss is exactly the issuer ({promised} the metadata): accepted"


@dataclass(frozen=True)
class AcceptedResponse:
    code: str
    #: How ``iss`` was checked: the row of :func:`check_iss` applied.
    iss_check: str


def accept_response(params: Mapping[str, str], pending: PendingAuthorization, iss_advertised: bool) -> AcceptedResponse:
    """The authorization code, once the response passed the checks of this module's docstring."""
    check_state(params.get("state"), pending)
    iss_check = check_iss(params.get("iss"), pending.issuer, iss_advertised)
    error = params.get("error")
    if error is not None:
        description = params.get("error_description")
        default = "the user denied the request" if error == "access_denied" else "no description"
        raise AuthorizationError(f"{error}: {description or default}")
    code = params.get("code")
    if not code:
        raise AuthorizationError("the authorization response has neither a code nor an error")
    return AcceptedResponse(code, iss_check)
