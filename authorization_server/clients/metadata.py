"""Client metadata in a registration request, validated (RFC 7591 §2, §3.2.2).

The rules, each answered with the RFC 7591 error it calls for:

- ``redirect_uris`` (required for the authorization code grant, and only then): https, or http on a loopback
  host (MCP "localhost or HTTPS", OAuth 2.1 §2.3.1); absolute, no fragment, no user info. So
  never ``javascript:``, ``data:``, ``file:`` nor private-use schemes. Else ``invalid_redirect_uri``.
- ``grant_types``: those the server does not offer are left out of what is registered, and the
  response says what was (RFC 7591 §2, §3.2.1: the server may register other values than asked
  for). Widely used MCP clients list grants such as ``urn:ietf:params:oauth:grant-type:jwt-bearer``
  that this server has no use for; refusing them locked those clients out (issue 15, real clients).
  What is left must hold ``authorization_code`` or ``client_credentials`` (a machine client,
  confidential only: OAuth 2.1 §4.2). ``response_types`` ``code`` with ``authorization_code`` and
  empty without it (RFC 7591 §2.1). Defaults as RFC 7591 §2 gives them. Else
  ``invalid_client_metadata``.
- ``token_endpoint_auth_method`` one the server supports. A client may offer a choice instead, or
  beside it (OpenID Connect RP Metadata Choices 1.0 §2: ``token_endpoint_auth_methods_supported``):
  its own method is used when the server supports it, else the first choice the server supports
  (``private_key_jwt`` only when the client gave its keys); none usable is ``invalid_client_metadata``
  (RP Metadata Choices, Implementation Considerations). The response names the one registered.
- ``private_key_jwt`` (RFC 7523 §2.2) needs exactly one of ``jwks`` (public signing keys,
  ``clients/assertions.py``) and ``jwks_uri`` (a URL ``safe_fetch.py`` may fetch); RFC 7591 §2
  forbids sending both, whatever the method. Else ``invalid_client_metadata``.
- ``scope``: the server may register a different scope than asked for (RFC 7591 §2); scopes it
  does not offer are dropped and the response says what was registered.
- Human-readable text (``client_name``, ``software_id``, ``contacts``, the URLs, ...) carries no
  control characters and no invisible formatting characters (Unicode category Cf: bidi overrides,
  zero-width joiners, ...), which could make the consent page read other than the value is (RFC 7591
  §2 and §5: the metadata is self-asserted; issue 11 item 11). Else ``invalid_client_metadata``, or
  ``invalid_redirect_uri`` in a redirect URI.
- Fields the server does not understand are ignored, as RFC 7591 §2 requires.
"""

import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mcp_authz.authorization_server.clients.assertions import parse_jwks
from mcp_authz.authorization_server.errors import InvalidClientMetadata, InvalidRedirectUri
from mcp_authz.authorization_server.safe_fetch import ascii_host, is_special_use, url_problem
from mcp_authz.shared.loopback import is_https_or_loopback_http
from mcp_authz.shared.scopes import format_scope, parse_scope

MAX_REDIRECT_URIS = 10
MAX_URI_LENGTH = 2000
MAX_TEXT_LENGTH = 200
APPLICATION_TYPES = ("native", "web")


@dataclass(frozen=True)
class ClientMetadata:
    """The metadata a client registers with; every field as RFC 7591 §2 defines it."""

    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    client_name: str | None = None
    client_uri: str | None = None
    logo_uri: str | None = None
    scope: str | None = None
    contacts: tuple[str, ...] | None = None
    tos_uri: str | None = None
    policy_uri: str | None = None
    software_id: str | None = None
    software_version: str | None = None
    #: Required of MCP clients since 2026-07-28 (SEP-837); recorded, not enforced on older clients.
    application_type: str | None = None
    #: The client's public keys for ``private_key_jwt`` (RFC 7591 §2): given here, or where to fetch them.
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    #: The client always sends DPoP proofs at the token endpoint (RFC 9449 §5.2): one without is refused.
    dpop_bound_access_tokens: bool | None = None

    def to_json(self) -> dict[str, Any]:
        values = vars(self).items()  # not asdict, which would deep-copy jwks for nothing
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values if v is not None and v != ()}


def parse_client_metadata(
    body: object,
    *,
    grant_types_supported: tuple[str, ...],
    auth_methods_supported: tuple[str, ...],
    scopes_offered: tuple[str, ...],
    allow_loopback_urls: bool = False,
) -> ClientMetadata:
    """Validate a registration request body against what this issuer supports.

    ``allow_loopback_urls`` admits a ``jwks_uri`` on loopback (``--allow-loopback-client-metadata``).
    """
    if not isinstance(body, dict):
        raise InvalidClientMetadata("the registration request must be a JSON object")
    grant_types = _grant_types(body, grant_types_supported)
    interactive = "authorization_code" in grant_types
    response_types = _str_list(body, "response_types") or (("code",) if interactive else ())
    method = choose_auth_method(body, auth_methods_supported, default="client_secret_basic")
    if not interactive and "client_credentials" not in grant_types:
        raise InvalidClientMetadata("grant_types must include authorization_code or client_credentials")
    if set(response_types) != ({"code"} if interactive else set()):
        raise InvalidClientMetadata(
            'response_types must be ["code"] with the authorization_code grant, and empty without it'
            " (RFC 7591 §2.1; OAuth 2.1 has no implicit grant)"
        )
    if "client_credentials" in grant_types and method == "none":
        raise InvalidClientMetadata("the client_credentials grant is only for confidential clients (OAuth 2.1 §4.2)")
    jwks, jwks_uri = _keys(body, method, allow_loopback_urls)
    application_type = _text(body, "application_type")
    if application_type is not None and application_type not in APPLICATION_TYPES:
        raise InvalidClientMetadata('application_type must be "native" or "web"')
    return ClientMetadata(
        redirect_uris=_redirect_uris(body, required=interactive),
        token_endpoint_auth_method=method,
        grant_types=grant_types,
        response_types=response_types,
        client_name=_text(body, "client_name"),
        client_uri=_web_uri(body, "client_uri"),
        logo_uri=_web_uri(body, "logo_uri"),
        scope=_scope(body, scopes_offered),
        contacts=_str_list(body, "contacts"),
        tos_uri=_web_uri(body, "tos_uri"),
        policy_uri=_web_uri(body, "policy_uri"),
        software_id=_text(body, "software_id"),
        software_version=_text(body, "software_version"),
        application_type=application_type,
        jwks=jwks,
        jwks_uri=jwks_uri,
        dpop_bound_access_tokens=_dpop_bound(body),
    )


def _dpop_bound(body: dict[str, Any]) -> bool | None:
    """``dpop_bound_access_tokens`` (RFC 9449 §5.2): a boolean, false when absent."""
    value = body.get("dpop_bound_access_tokens")
    if value is not None and not isinstance(value, bool):
        raise InvalidClientMetadata("dpop_bound_access_tokens must be true or false (RFC 9449 §5.2)")
    return value


def _grant_types(body: dict[str, Any], supported: tuple[str, ...]) -> tuple[str, ...]:
    """The grant types to register: those asked for that the server offers (RFC 7591 §2, §3.2.1).

    Left out, ``authorization_code`` (RFC 7591 §2). Asked for, but none of them offered here:
    ``invalid_client_metadata``, since nothing usable is left.
    """
    asked = _str_list(body, "grant_types")
    if not asked:
        return ("authorization_code",)
    kept = tuple(grant_type for grant_type in asked if grant_type in supported)
    if not kept:
        raise InvalidClientMetadata(
            f"none of the grant types {', '.join(map(repr, asked))} is offered here; use {', '.join(supported)}"
        )
    return kept


def choose_auth_method(body: dict[str, Any], supported: tuple[str, ...], *, default: str) -> str:
    """The token endpoint authentication method to register (RFC 7591 §2; RP Metadata Choices 1.0 §2).

    The client's ``token_endpoint_auth_method`` if the server supports it; else, or when it is left
    out, the first of its ``token_endpoint_auth_methods_supported`` that the server supports
    (``private_key_jwt`` only with ``jwks`` or ``jwks_uri``: a choice the client cannot use is
    none); else, with neither given, ``default``. Nothing usable: ``invalid_client_metadata``.
    """
    method = _text(body, "token_endpoint_auth_method")
    choices = _str_list(body, "token_endpoint_auth_methods_supported")
    if method is None and choices is None:
        return default
    if method in supported:
        return method
    has_keys = body.get("jwks") is not None or body.get("jwks_uri") is not None
    for choice in choices or ():
        if choice in supported and (choice != "private_key_jwt" or has_keys):
            return choice
    offered = repr(method) if method is not None else f"any of {', '.join(map(repr, choices or ()))}"
    raise InvalidClientMetadata(f"token_endpoint_auth_method {offered} is not supported; use {', '.join(supported)}")


#: RFC 7592 §2.2: fields the server issues, which an update request must not carry.
SERVER_ISSUED = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)


def parse_client_update(body: object, client_id: str) -> str | None:
    """Check the RFC 7592 §2.2 rules of an update request; returns the ``client_secret`` it carries, if any.

    The metadata itself is then validated as at registration (:func:`parse_client_metadata`).
    """
    if not isinstance(body, dict):
        raise InvalidClientMetadata("the update request must be a JSON object")
    if body.get("client_id") != client_id:
        raise InvalidClientMetadata("client_id is required and must be this client's (RFC 7592 section 2.2)")
    for name in SERVER_ISSUED:
        if name in body:
            raise InvalidClientMetadata(f"{name} is issued by the server; leave it out of the request")
    secret = body.get("client_secret")
    if secret is not None and not isinstance(secret, str):
        raise InvalidClientMetadata("client_secret must be a string")
    return secret


def _keys(body: dict[str, Any], method: str, allow_loopback: bool) -> tuple[dict[str, Any] | None, str | None]:
    jwks_uri = _text(body, "jwks_uri", limit=MAX_URI_LENGTH)
    jwks = body.get("jwks")
    if jwks is not None and jwks_uri is not None:
        raise InvalidClientMetadata("jwks and jwks_uri must not both be present (RFC 7591 section 2)")
    if method == "private_key_jwt" and jwks is None and jwks_uri is None:
        raise InvalidClientMetadata("private_key_jwt needs the client's public keys: jwks or jwks_uri")
    if jwks_uri is not None:
        problem = url_problem(jwks_uri, allow_loopback=allow_loopback) or _literal_address_problem(
            jwks_uri, allow_loopback=allow_loopback
        )
        if problem:
            raise InvalidClientMetadata(f"jwks_uri is not allowed: {problem}")
    if jwks is not None:
        try:
            parse_jwks(jwks)
        except ValueError as exc:
            raise InvalidClientMetadata(str(exc)) from None
    return jwks, jwks_uri


def _redirect_uris(body: dict[str, Any], *, required: bool) -> tuple[str, ...]:
    uris = _str_list(body, "redirect_uris", error=InvalidRedirectUri) or ()
    if not uris and required:
        raise InvalidRedirectUri("redirect_uris is required for the authorization code grant")
    if len(uris) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"at most {MAX_REDIRECT_URIS} redirect URIs may be registered")
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise InvalidRedirectUri(f"redirect URI {_shorten(uri)} is not allowed: {problem}")
    return uris


#: A host no browser or resolver could reach: an empty label, a label over 63 octets, percent-encoding,
#: a character the IDNA codec refuses (RFC 5890 §2.3.1; issue 11, item 7's hosts at registration).
_NOT_A_DOMAIN_NAME = "its host is not a valid domain name (RFC 5890)"


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` may not be a redirect URI, or ``None`` when it may (OAuth 2.1 §2.3.1, §1.5)."""
    if len(uri) > MAX_URI_LENGTH:
        return f"longer than {MAX_URI_LENGTH} characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "it is not a valid URI"
    if parts.scheme not in ("https", "http"):
        return "it must use https, or http on a loopback address"
    if not parts.hostname:
        return "it must be an absolute URI with a host"
    if ascii_host(parts.hostname) is None:
        return _NOT_A_DOMAIN_NAME
    if not is_https_or_loopback_http(uri):
        return "plain http is only allowed for loopback addresses (localhost, 127.0.0.1, [::1])"
    if parts.fragment or "#" in uri:
        return "it must not have a fragment"
    if parts.username is not None or parts.password is not None:
        return "it must not carry user information"
    if _SPACE_OR_CONTROL.search(uri):
        return "it contains spaces or control characters"
    if _hidden_characters(uri):
        return "it contains invisible formatting characters (Unicode category Cf)"
    return None


def _literal_address_problem(url: str, *, allow_loopback: bool) -> str | None:
    """Why a URL whose host is a literal IP address may not be fetched, or ``None``.

    The same rule as ``safe_fetch.py`` applies when the URL is fetched (RFC 6890, its
    ``is_special_use``), but a literal address needs no resolving, so it is refused at registration
    already (issue 11 item 15). IPv4 in the shorthand forms browsers and ``getaddrinfo`` accept
    (``127.1``, ``2130706433``, ``0x7f.0.0.1``) counts as the address it stands for.
    """
    host = urlsplit(url).hostname or ""
    address = _literal_address(host)
    if address is None:
        return None
    if address.is_loopback and allow_loopback:
        return None
    if is_special_use(str(address)):
        return f"its host {host} is a special-use address (RFC 6890)"
    return None


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if not host or not all(char in "0123456789abcdefx." for char in host.lower()):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _scope(body: dict[str, Any], offered: tuple[str, ...]) -> str | None:
    value = _text(body, "scope")
    if value is None:
        return None
    try:
        requested = parse_scope(value)
    except ValueError as exc:
        raise InvalidClientMetadata(f"scope: {exc}") from None
    registered = tuple(scope for scope in requested if scope in offered)
    return format_scope(registered) if registered else None


def _web_uri(body: dict[str, Any], name: str) -> str | None:
    uri = _text(body, name, limit=MAX_URI_LENGTH)
    if uri is None:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise InvalidClientMetadata(f"{name} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        raise InvalidClientMetadata(f"{name} must be an absolute http(s) URL without a fragment")
    if ascii_host(parts.hostname) is None:
        raise InvalidClientMetadata(f"{name} is not allowed: {_NOT_A_DOMAIN_NAME}")
    return uri


def _text(body: dict[str, Any], name: str, *, limit: int = MAX_TEXT_LENGTH) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string")
    if len(value) > limit:
        raise InvalidClientMetadata(f"{name} is longer than {limit} characters")
    _check_characters(name, value, InvalidClientMetadata)
    return value or None


#: C0 controls, DEL and the C1 controls. One ``search`` in C: a generator over the characters cost
#: 1% of a full flow's instructions (issue 14).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: What a redirect URI may not hold: C0 controls, the space and DEL (RFC 3986 §2: none is a URI character).
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def _check_characters(name: str, value: str, error: type[InvalidClientMetadata | InvalidRedirectUri]) -> None:
    """Refuse control characters, and the invisible formatting ones that reorder or hide text (issue 11 item 11)."""
    if _CONTROL_CHARACTER.search(value):
        raise error(f"{name} contains control characters")
    if _hidden_characters(value):
        raise error(f"{name} contains invisible formatting characters (Unicode category Cf, such as bidi overrides)")


def _hidden_characters(value: str) -> bool:
    """Whether ``value`` holds a format character (Cf) or a lone surrogate (Cs), which no text may show."""
    return not value.isascii() and any(unicodedata.category(char) in ("Cf", "Cs") for char in value)


def _str_list(
    body: dict[str, Any],
    name: str,
    *,
    error: type[InvalidClientMetadata | InvalidRedirectUri] = InvalidClientMetadata,
) -> tuple[str, ...] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise error(f"{name} must be an array of strings")
    if len(value) > MAX_TEXT_LENGTH:
        raise error(f"{name} has too many entries")
    for item in value:
        _check_characters(name, item, error)
    return tuple(dict.fromkeys(value))


def _shorten(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
