"""Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document, "CIMD"): pure rules.

A ``client_id`` that is an https URL names a document the client publishes about itself (MCP
2026-07-28 prefers this to dynamic registration). Its form (CIMD §3): https, a path other than
``/``, no ``.`` or ``..`` segment, no fragment, no user information; a port may appear. The
document (CIMD §4.1, MCP "For Authorization Servers"): a JSON object whose ``client_id`` equals
the URL by simple string comparison, with ``client_name`` and ``redirect_uris``; its metadata
follows the rules of registration (``clients/metadata.py``), and since nobody can hold a
shared secret for a public document, ``client_secret``, ``client_secret_expires_at`` and the
``client_secret_*`` methods are refused: ``token_endpoint_auth_method`` is ``none`` (the
default here) or ``private_key_jwt`` (CIMD §6.2); a document may offer a choice of methods
(``token_endpoint_auth_methods_supported``, OpenID Connect RP Metadata Choices), and the first of
those two it offers is used. Grant types this server does not offer (a widely used desktop client
lists ``urn:ietf:params:oauth:grant-type:jwt-bearer``) are ignored, as at registration; the
document is refused only when no grant it could use is left (issue 15, real clients). Unknown
fields are ignored (RFC 7591 §2). A ``client_credentials`` grant in a document is
ignored (issue 11 item 1): anyone can publish a document, and the grant is for resources
"previously arranged" with the operator (RFC 6749 §4.4, docs/decisions/0018); the document still
serves the authorization code grant.
"""

from typing import Any
from urllib.parse import unquote, urlsplit

from mcp_authz.authorization_server.clients.metadata import ClientMetadata, choose_auth_method, parse_client_metadata
from mcp_authz.authorization_server.errors import InvalidClient, InvalidClientMetadata, OAuthError
from mcp_authz.authorization_server.safe_fetch import url_problem

#: CIMD §4.3 recommends at most 5 KB.
MAX_DOCUMENT_BYTES = 5 * 1024
AUTH_METHODS = ("none", "private_key_jwt")
_SECRET_FIELDS = ("client_secret", "client_secret_expires_at")


def is_document_url(client_id: str) -> bool:
    """Whether ``client_id`` names a metadata document; registered client ids never contain ``://``."""
    return client_id.startswith(("https://", "http://"))


def document_url_problem(url: str, *, allow_loopback: bool) -> str | None:
    """Why ``url`` is not a valid client ID metadata document URL (CIMD §3), or ``None``."""
    problem = url_problem(url, allow_loopback=allow_loopback)
    if problem:
        return problem
    path = urlsplit(url).path
    if path in ("", "/"):
        return "it must have a path, such as /client.json"
    if any(unquote(segment) in (".", "..") for segment in path.split("/")):
        return "it must not have . or .. path segments"
    return None


def parse_document(
    url: str, body: object, *, grant_types_supported: tuple[str, ...], allow_loopback_urls: bool
) -> ClientMetadata:
    """The document's client metadata, or ``InvalidClient`` saying what is wrong with it.

    ``scope`` is not kept: what a request may ask for is decided by the MCP server's scopes.
    """
    if not isinstance(body, dict):
        raise InvalidClient("the client metadata document is not a JSON object")
    if body.get("client_id") != url:
        raise InvalidClient("the client metadata document's client_id is not its own URL (CIMD section 4.1)")
    for name in ("client_name", "redirect_uris"):
        if not body.get(name):
            raise InvalidClient(f"the client metadata document has no {name}")
    for name in _SECRET_FIELDS:
        if name in body:
            raise InvalidClient(f"a client metadata document must not contain {name}: it is public")
    try:
        method = choose_auth_method(body, AUTH_METHODS, default="none")
    except InvalidClientMetadata:
        asked = body.get("token_endpoint_auth_method", body.get("token_endpoint_auth_methods_supported"))
        raise InvalidClient(
            f"a client metadata document's token_endpoint_auth_method must be none or private_key_jwt, not {asked!r}"
        ) from None
    try:
        return parse_client_metadata(
            {**_without_scope(body), "token_endpoint_auth_method": method, **_without_client_credentials(body)},
            grant_types_supported=grant_types_supported,
            auth_methods_supported=AUTH_METHODS,
            scopes_offered=(),
            allow_loopback_urls=allow_loopback_urls,
        )
    except OAuthError as error:
        raise InvalidClient(f"the client metadata document is not valid: {error.description}") from None


def _without_scope(body: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name != "scope"}


def _without_client_credentials(body: dict[str, Any]) -> dict[str, Any]:
    """``grant_types`` without ``client_credentials``, which a document cannot give itself; else nothing."""
    grant_types = body.get("grant_types")
    if not isinstance(grant_types, list) or "client_credentials" not in grant_types:
        return {}
    kept = [grant_type for grant_type in grant_types if grant_type != "client_credentials"]
    return {"grant_types": kept or None}
