"""The authorization request (OAuth 2.1 §4.1.1), checked in order.

The first two checks establish the client and its redirect URI. Until both are known, an error
must not be sent to the redirect URI (§4.1.2.1): it is shown to the user on a page. Once they
are known, every later error goes back to the client's redirect URI with ``state`` and ``iss``.

=====================  ==================================================  ===========================
check                  rule                                                error
=====================  ==================================================  ===========================
client                 ``client_id`` registered with this issuer, or the   page
                       URL of a valid client metadata document (CIMD)
redirect_uri           registered or in the document (exact; loopback      page
                       port may vary)
request, request_uri   no request objects, no PAR (RFC 9101 §6.1)          request_not_supported,
                                                                           request_uri_not_supported
response_mode          ``query`` only (OAuth 2.1 §4.1.2; RFC 8414 §2)      invalid_request
response_type          ``code`` only (no implicit grant, OAuth 2.1 §10.1)   unsupported_response_type
client grant types     client registered ``authorization_code``           unauthorized_client
PKCE                   ``code_challenge`` with method ``S256`` (RFC 7636)   invalid_request
resource               this issuer's MCP server (RFC 8707 §2)              invalid_target
scope                  well-formed (RFC 6749 §3.3); scopes the MCP         invalid_scope (malformed
                       server does not offer are dropped, the defaults     only)
                       when none is left; ``offline_access`` (SEP-2207)
                       set aside
dpop_jkt               a JWK SHA-256 thumbprint (RFC 9449 §10), binding    invalid_request
                       the code to that DPoP key
=====================  ==================================================  ===========================

Scope is narrowed, not refused (RFC 6749 §3.3: the server may "fully or partially ignore the scope
requested by the client"; issue 15, real clients): MCP clients ask for every scope in the issuer's
``scopes_supported``, or for the scopes of another server, and registration already narrows the same
way (RFC 7591 §2). The journey's ``authorization_requested`` step says what was dropped, the consent
page asks for what is left, and the token response's ``scope`` says what was granted (OAuth 2.1 §3.2.3).
"""

import re

from mcp_authz.authorization_server.clients.entities import Client
from mcp_authz.authorization_server.clients.metadata import ClientMetadata
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    RequestNotSupported,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from mcp_authz.authorization_server.flow.authorization.client_directory import ClientDirectory
from mcp_authz.authorization_server.flow.discovery.issuers import OFFLINE_ACCESS, Issuer, IssuerService
from mcp_authz.authorization_server.journeys.entities import AuthorizationRequest
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.shared.pkce import CHALLENGE_PATTERN
from mcp_authz.shared.pkce import METHOD as PKCE_METHOD
from mcp_authz.shared.scopes import parse_scope

#: A base64url SHA-256 digest: the form of a JWK thumbprint (RFC 7638, RFC 9449 §10).
JKT_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")

MAX_STATE_LENGTH = 2048


async def check_client(
    tx: Transaction, directory: ClientDirectory, issuer: Issuer, params: Params, document: ClientMetadata | None
) -> tuple[Client, str]:
    """The client and the redirect URI to use; errors here are shown, never redirected (§4.1.2.1).

    ``document`` is the client's metadata document, fetched before the transaction, if its
    ``client_id`` is one's URL (``ClientDirectory.document``).
    """
    client_id = params.get("client_id")
    if client_id is None:
        raise InvalidRequest("The request does not say which application is asking (client_id is missing).")
    client = await directory.client(tx, issuer, client_id, document)
    if client is None:
        raise InvalidRequest("The application asking for access is not registered with this server.")
    if client.blocked:
        raise InvalidClient("The application asking for access is blocked by this server's operator.")
    redirect_uri = client.redirect_uri_for(params.get("redirect_uri"))
    if redirect_uri is None:
        raise InvalidRequest("The application's redirect URI is missing or not one it registered.")
    return client, redirect_uri


async def check_request(
    issuers: IssuerService, issuer: Issuer, client: Client, redirect_uri: str, params: Params
) -> AuthorizationRequest:
    """Every other rule of the request; the errors raised here go back to the redirect URI."""
    check_request_form(params)
    response_type = params.get("response_type")
    if response_type is None:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        raise UnsupportedResponseType("only response_type=code is supported (OAuth 2.1 §4.1.1)")
    if "authorization_code" not in client.grant_types:
        raise UnauthorizedClient("this client did not register the authorization_code grant")
    code_challenge = params.get("code_challenge")
    if code_challenge is None:
        raise InvalidRequest("code_challenge is required: PKCE is mandatory (OAuth 2.1 §4.1.1)")
    if not CHALLENGE_PATTERN.fullmatch(code_challenge):
        raise InvalidRequest("code_challenge must be 43-128 unreserved characters (RFC 7636 §4.2)")
    if params.get("code_challenge_method") != PKCE_METHOD:
        raise InvalidRequest("code_challenge_method must be S256; plain is not accepted (RFC 7636 §4.3)")
    resources = params.get_all("resource")
    if len(resources) > 1:
        raise InvalidTarget("ask for one MCP server per authorization (one resource parameter)")
    server = await issuers.audience(issuer, resources[0] if resources else None)
    scope, dropped = narrowed_scope(params.get("scope"), server.scopes, server.default_scopes)
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise InvalidRequest(f"state is longer than {MAX_STATE_LENGTH} characters")
    dpop_jkt = params.get("dpop_jkt")
    if dpop_jkt is not None and not JKT_PATTERN.fullmatch(dpop_jkt):
        raise InvalidRequest("dpop_jkt must be a JWK SHA-256 thumbprint, 43 base64url characters (RFC 9449 §10)")
    return AuthorizationRequest(
        issuer=issuer.url,
        client_id=client.client_id,
        mcp_server_id=server.id,
        redirect_uri=redirect_uri,
        scope=scope,
        resource=server.resource,
        code_challenge=code_challenge,
        state=state,
        dropped_scope=dropped,
        dpop_jkt=dpop_jkt,
    )


def check_request_form(params: Params) -> None:
    """Refuse what the request asks for in a form this server does not speak (issue 11 item 15).

    RFC 9101 §6.1: request objects are not supported, by value (``request``) nor by reference
    (``request_uri``, which only PAR would give meaning to, and there is no PAR here). OAuth 2.1
    §4.1.2 answers in the query; the metadata lists ``response_modes_supported: ["query"]``, so
    any other ``response_mode`` (``fragment``, ``form_post``, ...) would answer where the client
    does not look.
    """
    if params.get("request") is not None:
        raise RequestNotSupported("request objects (the request parameter) are not supported (RFC 9101)")
    if params.get("request_uri") is not None:
        raise RequestUriNotSupported("request_uri is not supported: no request objects, no pushed requests (RFC 9101)")
    response_mode = params.get("response_mode")
    if response_mode is not None and response_mode != "query":
        raise InvalidRequest("only response_mode=query is supported (OAuth 2.1 section 4.1.2)")


def narrowed_scope(
    requested: str | None, offered: tuple[str, ...], defaults: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The scope an authorization request gets at an MCP server, and the scopes it asked for that were dropped.

    RFC 6749 §3.3: what the server does not offer is left out; when nothing is left, or nothing was
    asked, the server's defaults. ``offline_access`` (SEP-2207) is set aside, not dropped
    (:func:`requested_scope`). A malformed scope string is still ``invalid_scope``.
    """
    if requested is None:
        return defaults, ()
    try:
        scopes = tuple(scope for scope in parse_scope(requested) if scope != OFFLINE_ACCESS)
    except ValueError as exc:
        raise InvalidScope(str(exc)) from None
    kept = tuple(scope for scope in scopes if scope in offered)
    dropped = tuple(scope for scope in scopes if scope not in offered)
    return kept or defaults, dropped


def requested_scope(requested: str | None, offered: tuple[str, ...], defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The scope a token request asks of an MCP server (OAuth 2.1 §3.2.2.1), its defaults if none.

    Strict, for the client_credentials grant (docs/decisions/0018): a scope the MCP server does not
    offer is ``invalid_scope``. The authorization request narrows instead (:func:`narrowed_scope`).

    ``offline_access`` (SEP-2207) is accepted and set aside: it asks for a refresh token, which
    this server's policy grants by the client's grant types, not by scope (docs/decisions/0018).
    """
    if requested is None:
        return defaults
    try:
        scopes = tuple(scope for scope in parse_scope(requested) if scope != OFFLINE_ACCESS)
    except ValueError as exc:
        raise InvalidScope(str(exc)) from None
    unknown = [scope for scope in scopes if scope not in offered]
    if unknown:
        raise InvalidScope(f"unknown scope {unknown[0]!r}; this MCP server offers {' '.join(offered)}")
    return scopes or defaults
