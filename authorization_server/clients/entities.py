"""What a registered client is."""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcp_authz.authorization_server.clients.metadata_documents import is_document_url


@dataclass(frozen=True)
class Client:
    """A registered OAuth client, bound to the issuer it registered with."""

    client_id: str
    issuer: str
    token_endpoint_auth_method: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    client_name: str | None
    #: The registered metadata, as echoed in the registration response (RFC 7591 §3.2.1).
    metadata: dict[str, Any] = field(hash=False, compare=False)
    secret_hash: str | None
    secret_expires_at: int
    created_at: datetime
    #: When it was last issued a token at /token, to the hour; idle clients expire (client_expiry.py).
    last_used_at: datetime
    #: The digest of its registration access token (RFC 7592 §1.2); ``None``: it cannot be managed.
    registration_token_hash: str | None = field(default=None, repr=False)
    #: Blocked by the operator (``clients block``, docs/decisions/0025): refused everywhere until unblocked.
    blocked: bool = False
    #: A workload known by its platform's JWT (SEP-1933, decision 0051): the trusted workload issuer's name
    #: and the JWT's ``sub``. Such a client uses the jwt-bearer grant with that JWT and nothing else.
    workload_issuer: str | None = None
    workload_subject: str | None = None

    @property
    def is_workload(self) -> bool:
        return self.workload_issuer is not None

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def dpop_bound(self) -> bool:
        """Registered with ``dpop_bound_access_tokens``: every token request must carry a DPoP proof (RFC 9449 §5.2)."""
        return self.metadata.get("dpop_bound_access_tokens") is True

    @property
    def from_metadata_document(self) -> bool:
        """Known by its client ID metadata document: the ``client_id`` is the document's URL (CIMD §3)."""
        return is_document_url(self.client_id)

    @property
    def display_name(self) -> str:
        return self.client_name or self.client_id

    def redirect_uri_for(self, requested: str | None) -> str | None:
        """The redirect URI to use for a request, or ``None`` if the request's is not registered.

        OAuth 2.1 §2.3.1 and §4.1.1: the URI is compared with the registered ones by simple
        string comparison, and may be left out when exactly one is registered. RFC 8252 §7.3:
        for loopback http redirect URIs the port may differ from the registered one.
        """
        if requested is None:
            return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None
        if requested in self.redirect_uris:
            return requested
        asked = _loopback_parts(requested, request=True)
        if asked is not None and any(_loopback_parts(registered) == asked for registered in self.redirect_uris):
            return requested
        return None


#: A loopback http redirect URI: the scheme and host, an optional port, then the path and query, as written.
_LOOPBACK_URI = re.compile(r"(http://(?:localhost|127\.0\.0\.1|\[::1\]))(?::([0-9]+))?([/?][^#]*)?", re.IGNORECASE)
#: A port a request may name: 1 to 65535 written without leading zeros (RFC 8252 §7.3 lets it vary, no more).
_REQUEST_PORT = re.compile(r"[1-9][0-9]{0,4}")


def _loopback_parts(uri: str, *, request: bool = False) -> tuple[str, str] | None:
    """A loopback URI as written but its port: ``("http://127.0.0.1", "/callback?x=1")``; else ``None``.

    RFC 8252 §7.3 and OAuth 2.1 §2.3.1: only the port may differ from the registered URI, so the
    rest is compared as the raw string: no case folding, no parser's tolerance of tabs, leading
    spaces or a port of ``0`` or ``019050`` (issue 11 item 15). A requested port must be a real one.
    """
    match = _LOOPBACK_URI.fullmatch(uri)
    if match is None:
        return None
    prefix, port, rest = match.groups()
    if request and port is not None and not (_REQUEST_PORT.fullmatch(port) and int(port) <= 65535):
        return None
    return prefix, rest or ""


def client_information(client: Client, registration_client_uri: str) -> dict[str, Any]:
    """The client information response without secrets (RFC 7592 §3, RFC 7591 §3.2.1).

    The client secret and the registration access token are stored only as digests, so they
    appear only in the response that issued them (docs/decisions/0017).
    """
    response: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "registration_client_uri": registration_client_uri,
    }
    if client.secret_hash is not None:
        response["client_secret_expires_at"] = client.secret_expires_at
    return response | client.metadata


@dataclass(frozen=True)
class MachineApproval:
    """The operator let ``client_id`` use the client_credentials grant for one MCP server (OAuth 2.1 §4.2).

    RFC 6749 §4.4: the grant is for resources "previously arranged with the authorization server";
    this row is that arrangement (docs/decisions/0018). Registration and metadata documents never make one.
    """

    client_id: str
    mcp_server_id: str
    #: The most the client may get there; a request gets the intersection with what it asks.
    scopes: tuple[str, ...]
    approved_at: datetime


@dataclass(frozen=True)
class ClientCredentials:
    """How a client identified itself at the token endpoint (OAuth 2.1 §2.4)."""

    client_id: str
    #: ``none``, ``client_secret_basic``, ``client_secret_post`` or ``private_key_jwt``.
    method: str
    secret: str | None = field(default=None, repr=False)
    #: The ``client_assertion`` of ``private_key_jwt`` (RFC 7523 §2.2).
    assertion: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Registration:
    """A new client, its registration access token and, for a confidential one, its secret.

    Both secrets are shown once, in the registration response, and stored only as digests.
    """

    client: Client
    secret: str | None = field(repr=False)
    registration_access_token: str = field(repr=False)

    def to_json(self, registration_client_uri: str) -> dict[str, Any]:
        """The client information response (RFC 7591 §3.2.1, RFC 7592 §3): credentials and all registered metadata."""
        response = client_information(self.client, registration_client_uri)
        response["registration_access_token"] = self.registration_access_token
        if self.secret is not None:
            response["client_secret"] = self.secret
        return response


@dataclass(frozen=True)
class IdJagAudience:
    """This server as an enterprise IdP (SEP-990): ``client_id`` may get ID-JAGs for ``audience``.

    ``audience`` is the resource authorization server's issuer; ``audience_client_id`` the client's
    id there, which the ID-JAG carries as its ``client_id`` claim (draft-ietf-oauth-identity-assertion-authz-grant §3).
    """

    client_id: str
    audience: str
    audience_client_id: str
    created_at: datetime
