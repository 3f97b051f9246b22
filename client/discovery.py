"""Steps 1 and 2: from the MCP server's URL to its authorization server's metadata.

MCP Authorization Server Discovery, as SPEC-CHECKLIST §3.1 and §5.1 spell it out:

1. POST an MCP request without a token. A protected MCP server answers 401 with
   ``WWW-Authenticate: Bearer resource_metadata="...", scope="..."`` (RFC 9728 §5.1, CL-01).
2. Fetch its protected resource metadata (RFC 9728 §3): from the challenge's URL, else from the
   path-inserted well-known URL, then the root one (CL-02). Its ``resource`` must name the server
   asked, or a prefix of it on the same origin (RFC 9728 §3.3, CL-03: :func:`covers`), else the
   document is not used.
3. Take the first issuer of its ``authorization_servers`` (CL-04) and fetch that issuer's
   metadata from the RFC 8414 and OpenID Connect Discovery URLs in the spec's order (CL-05),
   accepting only a document whose ``issuer`` is the very same string (RFC 8414 §3.3, CL-06).
   An authorization server without PKCE S256 is refused (CL-07); for ``--grant
   client_credentials``, which has no authorization request, one whose ``grant_types_supported``
   leaves that grant out is refused instead (RFC 8414 §2).

A server that answers step 1 without a 401 asks for no authorization (MCP Authorization §1); one
that publishes no protected resource metadata at all is a 2025-03-26 server, authorized at its
origin, with the default endpoints when it has no metadata either (decision 0050).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx2
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY
from mcp_types.version import LATEST_MODERN_VERSION

from mcp_authz.client.errors import AuthorizationServerError, McpServerError, describe
from mcp_authz.client.mcp_calls import CLIENT_INFO
from mcp_authz.client.tokens import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, ENTERPRISE, JWT_BEARER_GRANT, WORKLOAD
from mcp_authz.client.tutorial import Tutorial
from mcp_authz.client.urls import UrlPolicy
from mcp_authz.shared.metadata import AuthorizationServerMetadata, ProtectedResourceMetadata
from mcp_authz.shared.pkce import METHOD as PKCE_METHOD
from mcp_authz.shared.resource import canonical_resource, same_resource
from mcp_authz.shared.scopes import format_scope, parse_scope
from mcp_authz.shared.well_known import AUTHORIZATION_SERVER_SUFFIX, PROTECTED_RESOURCE_SUFFIX, insert_well_known
from mcp_authz.shared.www_authenticate import find_challenge

T = TypeVar("T")

OPENID_CONFIGURATION_SUFFIX = "openid-configuration"

#: The first request of an MCP 2026-07-28 client, sent without a token (MCP Streamable HTTP transport).
#: Every 2026-07-28 request's ``_meta`` carries the protocol version and the client's capabilities
#: (SEP-2575; the conformance suite's wire schema check), and should carry the client's name.
DISCOVER_REQUEST = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "server/discover",
    "params": {
        "_meta": {
            PROTOCOL_VERSION_META_KEY: LATEST_MODERN_VERSION,
            CLIENT_CAPABILITIES_META_KEY: {},
            CLIENT_INFO_META_KEY: CLIENT_INFO.model_dump(exclude_none=True),
        }
    },
}
DISCOVER_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": LATEST_MODERN_VERSION,
    "Mcp-Method": "server/discover",
}


#: What an MCP server URL looks like, in the error line of a URL that is not one.
EXAMPLE_SERVER_URL = "e.g. http://localhost:8000/mcp"


@dataclass(frozen=True)
class Challenge:
    """What the MCP server's 401 said: where its metadata is and the scope it wants (CL-01)."""

    resource_metadata: str | None = None
    scope: tuple[str, ...] | None = None


async def ask_without_token(http: httpx2.AsyncClient, server_url: str, tutorial: Tutorial) -> Challenge | None:
    """Send an MCP request without a token and read the 401's Bearer challenge (RFC 9728 §5.1).

    A server that takes DPoP tokens only may challenge with the DPoP scheme instead (RFC 9449 §7.1),
    with the same parameters: its challenge is read the same way.

    ``None`` when the server answers without asking for a token (MCP Authorization §1:
    authorization is optional): a success, or a JSON-RPC error (a 2025 server that knows no
    ``server/discover``, a version to negotiate), which a protected server sends only after a 401.
    """
    response = await _post(http, server_url, DISCOVER_REQUEST, DISCOVER_HEADERS)
    if response.is_success or _is_jsonrpc_error(response):
        tutorial.rule(
            "MCP Authorization §1, RFC 9728 §5.1",
            f"answered {response.status_code} without a token, no 401: this MCP server asks for no authorization",
        )
        return None
    if response.status_code != 401:
        raise McpServerError(
            f"{server_url} answered {response.status_code} {response.reason_phrase}, not 401 with a Bearer "
            f"challenge: check that --server-url is an MCP endpoint ({EXAMPLE_SERVER_URL})"
        )
    header = response.headers.get("www-authenticate", "")
    bearer = find_challenge(header, "bearer") or find_challenge(header, "dpop")
    challenge = Challenge(
        resource_metadata=bearer.params.get("resource_metadata") if bearer else None,
        scope=_scope(bearer.params.get("scope")) if bearer else None,
    )
    tutorial.rule(
        "CL-01, RFC 9728 §5.1",
        "a 401 names the protected resource metadata in its Bearer challenge: "
        f"resource_metadata={challenge.resource_metadata or '(none)'}, "
        f"scope={format_scope(challenge.scope) if challenge.scope else '(none)'}",
    )
    return challenge


def _is_jsonrpc_error(response: httpx2.Response) -> bool:
    """Whether the body is a JSON-RPC error response: an MCP server answered the request itself."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("jsonrpc") == "2.0" and isinstance(body.get("error"), dict)


async def _post(
    http: httpx2.AsyncClient, server_url: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx2.Response:
    try:
        return await http.post(server_url, json=body, headers=headers)
    except httpx2.TransportError as exc:
        raise McpServerError(
            f"cannot reach the MCP server at {server_url} ({describe(exc)}): check that it is running and --server-url"
        ) from None


def protected_resource_metadata_urls(server_url: str, challenge: Challenge) -> list[str]:
    """Where to look for the metadata, in order (CL-02, SPEC-CHECKLIST §5.1, RFC 9728 §3.1).

    The challenge's URL alone when it gave one (it need not be a well-known URL, and the root
    is then not probed); otherwise the path-inserted URL, when the server URL has a path, then
    the root well-known URL.
    """
    if challenge.resource_metadata:
        return [challenge.resource_metadata]
    parts = urlsplit(server_url)
    root = urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{PROTECTED_RESOURCE_SUFFIX}", "", ""))
    if parts.path in ("", "/"):
        return [root]
    return [insert_well_known(server_url, PROTECTED_RESOURCE_SUFFIX), root]


async def fetch_protected_resource_metadata(
    http: httpx2.AsyncClient, server_url: str, challenge: Challenge, policy: UrlPolicy, tutorial: Tutorial
) -> ProtectedResourceMetadata | None:
    """The first candidate that is 200 JSON metadata for this very server (CL-02, CL-03).

    ``None`` when the server publishes none: its challenge names no URL and every well-known URL
    answers 404, as a server of MCP 2025-03-26 (before RFC 9728 was adopted) does; the caller
    then falls back as that revision says (:func:`legacy_issuer`).
    """
    urls = protected_resource_metadata_urls(server_url, challenge)
    tutorial.rule(
        "CL-02, RFC 9728 §3.1",
        "fetch the URL the challenge named (and no well-known URL)"
        if challenge.resource_metadata
        else "the challenge names no URL: try the path-inserted well-known URL, then the root one",
    )
    failures: list[str] = []
    absent = 0
    for url in urls:
        problem = policy.problem(url)
        if problem:
            failures.append(f"{url} is not fetched: {problem}")
            continue
        try:
            response = await http.get(url, headers={"Accept": "application/json"})
        except httpx2.TransportError as exc:
            failures.append(f"{url}: {describe(exc)}")
            continue
        metadata = _document(url, response, ProtectedResourceMetadata.from_json)
        if isinstance(metadata, str):
            failures.append(metadata)
            absent += response.status_code == 404
            continue
        if not covers(metadata.resource, server_url):
            tutorial.rule("CL-03, RFC 9728 §3.3", f"resource {metadata.resource!r} is not {server_url}: not used")
            failures.append(f"{url} describes {metadata.resource!r}, not {server_url} (RFC 9728 §3.3)")
            continue
        tutorial.rule("CL-03, RFC 9728 §3.3", f'"resource" names the server asked: {metadata.resource}')
        return metadata
    if not challenge.resource_metadata and absent == len(failures):
        tutorial.rule(
            "MCP 2025-03-26 Authorization §2.3",
            "no protected resource metadata (404): a 2025-03-26 server, whose authorization base URL is its origin",
        )
        return None
    raise McpServerError(
        f"no usable protected resource metadata for {server_url} ({_first(failures)}): check the MCP server's "
        "resource URL and the metadata it publishes (RFC 9728)"
    )


def covers(resource: str, server_url: str) -> bool:
    """Whether protected resource metadata for ``resource`` may be used for ``server_url`` (CL-03).

    RFC 9728 §3.3 asks for the very URL; MCP servers also publish one document for a whole origin
    at the root well-known URL (``resource`` ``https://mcp.example.com`` for
    ``https://mcp.example.com/mcp``), which the MCP SDKs and the conformance scenario
    ``auth/metadata-var2`` accept. So: the same resource, or the same scheme, host and port with
    a path that is a prefix of the server's path, ending at a ``/``, and no query. The client then
    asks for tokens for ``resource`` as published.
    """
    if same_resource(resource, server_url):
        return True
    try:
        claimed, asked = urlsplit(canonical_resource(resource)), urlsplit(canonical_resource(server_url))
    except ValueError:
        return False
    prefix = claimed.path.rstrip("/") + "/"
    return (
        (claimed.scheme, claimed.netloc) == (asked.scheme, asked.netloc)
        and not claimed.query
        and (asked.path + "/").startswith(prefix)
    )


def choose_issuer(metadata: ProtectedResourceMetadata, policy: UrlPolicy, tutorial: Tutorial) -> str:
    """The first authorization server the MCP server names (CL-04, RFC 9728 §7.6)."""
    issuer = metadata.authorization_servers[0]
    problem = policy.problem(issuer)
    if problem:
        raise McpServerError(f"the protected resource metadata names the authorization server {issuer!r}: {problem}")
    others = len(metadata.authorization_servers) - 1
    tutorial.rule(
        "CL-04, RFC 9728 §7.6",
        f"use the first of authorization_servers: {issuer}" + (f" ({others} more listed)" if others else ""),
    )
    return issuer


def legacy_issuer(server_url: str) -> str:
    """The authorization base URL of a 2025-03-26 MCP server: its URL without the path (2025-03-26 §2.3.2)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def default_endpoints(issuer: str) -> AuthorizationServerMetadata:
    """The endpoints of a 2025-03-26 server that publishes no metadata (2025-03-26 §2.3.3, Fallbacks):
    ``/authorize``, ``/token`` and ``/register`` at the authorization base URL. PKCE S256 is
    assumed: that revision requires PKCE of every client."""
    return AuthorizationServerMetadata(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/authorize",
        token_endpoint=f"{issuer}/token",
        registration_endpoint=f"{issuer}/register",
        response_types_supported=("code",),
        code_challenge_methods_supported=(PKCE_METHOD,),
    )


def authorization_server_metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be, in the order MCP requires (SPEC-CHECKLIST §5.1).

    With a path (``https://a.example/t1``): RFC 8414 path-inserted, OpenID Connect path-inserted,
    then OpenID Connect appended (OIDC Discovery §4). Without a path: RFC 8414, then OpenID Connect.
    """
    urls = [
        insert_well_known(issuer, AUTHORIZATION_SERVER_SUFFIX),
        insert_well_known(issuer, OPENID_CONFIGURATION_SUFFIX),
    ]
    if urlsplit(issuer).path.rstrip("/"):
        urls.append(f"{issuer.rstrip('/')}/.well-known/{OPENID_CONFIGURATION_SUFFIX}")
    return urls


async def fetch_authorization_server_metadata(
    http: httpx2.AsyncClient,
    issuer: str,
    policy: UrlPolicy,
    tutorial: Tutorial,
    grant: str = AUTHORIZATION_CODE,
    *,
    legacy: bool = False,
) -> AuthorizationServerMetadata:
    """The first 200 JSON document whose ``issuer`` is identical to ``issuer`` (CL-05, CL-06), usable for ``grant``.

    ``legacy``: ``issuer`` is a 2025-03-26 server's authorization base URL; when every metadata
    URL answers 404, its default endpoints are used (:func:`default_endpoints`).
    """
    failures: list[str] = []
    absent = 0
    for url in authorization_server_metadata_urls(issuer):
        try:
            response = await http.get(url, headers={"Accept": "application/json"})
        except httpx2.TransportError as exc:
            raise AuthorizationServerError(
                f"cannot reach the authorization server {issuer} ({describe(exc)}): check that it is running and "
                "that the MCP server names the right one"
            ) from None
        metadata = _document(url, response, AuthorizationServerMetadata.from_json)
        if isinstance(metadata, str):
            failures.append(metadata)
            absent += response.status_code == 404
            continue
        if metadata.issuer != issuer:
            tutorial.rule("CL-06, RFC 8414 §3.3", f"issuer {metadata.issuer!r} is not {issuer!r}: not used")
            failures.append(f"{url} is for the issuer {metadata.issuer!r}, not {issuer!r} (RFC 8414 §3.3)")
            continue
        tutorial.rule("CL-06, RFC 8414 §3.3", f'"issuer" is the very string the MCP server named: {issuer}')
        _check(metadata, policy, tutorial, grant)
        return metadata
    if legacy and absent == len(failures):
        tutorial.rule(
            "MCP 2025-03-26 Authorization §2.3.3",
            "no authorization server metadata (404): use the default endpoints /authorize, /token and /register",
        )
        metadata = default_endpoints(issuer)
        _check(metadata, policy, tutorial, grant)
        return metadata
    raise AuthorizationServerError(
        f"no usable metadata for the authorization server {issuer} ({_first(failures)}): check the issuer the MCP "
        "server names (RFC 8414)"
    )


def _check(metadata: AuthorizationServerMetadata, policy: UrlPolicy, tutorial: Tutorial, grant: str) -> None:
    if grant in (ENTERPRISE, WORKLOAD):
        if JWT_BEARER_GRANT not in (metadata.grant_types_supported or (JWT_BEARER_GRANT,)):
            raise AuthorizationServerError(
                f"{metadata.issuer} does not list the jwt-bearer grant in grant_types_supported "
                f"({', '.join(metadata.grant_types_supported or ())}): it takes no assertion (RFC 7523 §2.1)"
            )
        tutorial.rule("RFC 8414 §2, RFC 7523 §2.1", f"{grant}: an assertion for a token, no authorization request")
    elif grant == CLIENT_CREDENTIALS:
        if CLIENT_CREDENTIALS not in (metadata.grant_types_supported or (CLIENT_CREDENTIALS,)):
            raise AuthorizationServerError(
                f"{metadata.issuer} does not list client_credentials in grant_types_supported "
                f"({', '.join(metadata.grant_types_supported or ())}): it offers machine clients no token"
            )
        tutorial.rule("RFC 8414 §2, OAuth 2.1 §4.2", "client_credentials: no authorization request, so no PKCE")
    elif PKCE_METHOD not in (metadata.code_challenge_methods_supported or ()):
        raise AuthorizationServerError(
            f"{metadata.issuer} does not list S256 in code_challenge_methods_supported: "
            "MCP clients must not continue without PKCE S256 (CL-07)"
        )
    else:
        tutorial.rule("CL-07, MCP Authorization Code Protection", "code_challenge_methods_supported lists S256")
    endpoints = {
        "authorization_endpoint": metadata.authorization_endpoint,
        "token_endpoint": metadata.token_endpoint,
        "registration_endpoint": metadata.registration_endpoint,
        "revocation_endpoint": metadata.revocation_endpoint,
    }
    for name, url in endpoints.items():
        problem = url and policy.problem(url)
        if problem:
            raise AuthorizationServerError(f"the {name} {url!r} of {metadata.issuer} is refused: {problem} (CL-08)")


def _first(failures: list[str]) -> str:
    """The first reason a discovery failed, and how many more URLs were tried: one short line, not all of them."""
    more = len(failures) - 1
    return failures[0] + (f"; {more} more URL{'s' if more > 1 else ''} tried" if more else "")


def _scope(value: str | None) -> tuple[str, ...] | None:
    """The challenge's scope, or ``None`` when absent or malformed (then the next source is used)."""
    if value is None:
        return None
    try:
        return parse_scope(value) or None
    except ValueError:
        return None


def _document(url: str, response: httpx2.Response, parse: Callable[[object], T]) -> T | str:
    """The metadata document a GET of ``url`` answered (RFC 9728 §3.2, RFC 8414 §3.2: a 200 with a JSON object),
    parsed; else the line that says why it is not, for the failures the caller reports."""
    if response.status_code != 200:
        return f"{url}: {response.status_code} {response.reason_phrase}"
    try:
        return parse(response.json())
    except ValueError as exc:
        return f"{url}: {exc}"
