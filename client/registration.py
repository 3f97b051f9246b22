"""Step 3: how this client is known to an authorization server, once per issuer.

MCP Client Registration's order (CL-10): a pre-registered client ID (``--client-id``), else a
client ID metadata document (``--client-metadata-url``) when the server advertises
``client_id_metadata_document_supported``, else dynamic client registration (RFC 7591). A
registration belongs to the issuer it was made with and is never used with another (CL-14,
MCP Authorization Server Binding); ``kind`` records which of the three it is.

A pre-registered client authenticates at the token endpoint as its operator set it up (CL-13):
with ``--private-key-file``, ``private_key_jwt`` (RFC 7523 §2.2); with ``--client-secret``,
``client_secret_basic`` or ``client_secret_post`` (:func:`secret_method`); else as a public client.
"""

from dataclasses import dataclass, field, replace
from typing import Any

import httpx2

from mcp_authz.client.assertion import SigningKey
from mcp_authz.client.errors import AuthorizationServerError, RegistrationError, describe
from mcp_authz.client.wire import OAuthErrorResponse
from mcp_authz.shared.json_fields import as_object, optional_str, required_str
from mcp_authz.shared.metadata import AuthorizationServerMetadata

PRE_REGISTERED = "pre-registered"
METADATA_DOCUMENT = "metadata-document"
DYNAMIC = "dynamic"
#: A workload with no client_id (SEP-1933, draft): the authorization server knows it by its JWT.
WORKLOAD_IDENTITY = "workload-identity"
PRIVATE_KEY_JWT = "private_key_jwt"


@dataclass(frozen=True)
class Registration:
    """This client as one authorization server knows it (RFC 7591 §3.2.1), bound to its issuer."""

    issuer: str
    client_id: str
    #: ``none`` for the public client we ask to be; honoured if the server decided otherwise (CL-13).
    token_endpoint_auth_method: str = "none"
    client_secret: str | None = None
    #: :data:`PRE_REGISTERED`, :data:`METADATA_DOCUMENT`, :data:`DYNAMIC` or :data:`WORKLOAD_IDENTITY`;
    #: only a dynamic one is made again.
    kind: str = DYNAMIC
    #: With ``private_key_jwt``: the PEM file of the signing key (never the key itself) and its algorithm.
    private_key_file: str | None = None
    private_key_alg: str | None = None
    #: The private JWK of this registration's DPoP key (RFC 9449), made when DPoP is first used with it.
    dpop_jwk: dict[str, Any] | None = field(default=None, repr=False)


def pre_registered(
    issuer: str, client_id: str, *, client_secret: str | None, auth_method: str, key: SigningKey | None
) -> Registration:
    """A client ID the user got from the server's operator: no request (MCP Pre-registration).

    With a key it signs ``private_key_jwt`` assertions; with a secret it sends it as ``auth_method``
    says (CL-13, RFC 6749 §2.3.1); with neither it is a public client.
    """
    if key is not None:
        return _with_key(Registration(issuer, client_id, kind=PRE_REGISTERED), key)
    method = auth_method if client_secret else "none"
    return Registration(issuer, client_id, method, client_secret, kind=PRE_REGISTERED)


def workload_identity(issuer: str) -> Registration:
    """A workload presenting its platform's JWT (SEP-1933, draft): no client_id to register or to send."""
    return Registration(issuer, "", "none", kind=WORKLOAD_IDENTITY)


def metadata_document(issuer: str, url: str, key: SigningKey | None) -> Registration:
    """The URL of the client's metadata document as its ``client_id`` (CL-11): the server fetches it.

    A document whose ``jwks`` holds the public half of ``key`` says ``private_key_jwt``; else ``none``.
    """
    made = Registration(issuer, url, "none", kind=METADATA_DOCUMENT)
    return _with_key(made, key) if key is not None else made


def secret_method(supported: tuple[str, ...] | None) -> str:
    """How to send a client secret when the user did not say (CL-13, RFC 8414 §2).

    ``client_secret_basic`` when the server lists it, or lists nothing (RFC 8414 §2's default);
    ``client_secret_post`` when only that one is listed.
    """
    if supported and "client_secret_basic" not in supported and "client_secret_post" in supported:
        return "client_secret_post"
    return "client_secret_basic"


def _with_key(made: Registration, key: SigningKey) -> Registration:
    return replace(
        made, token_endpoint_auth_method=PRIVATE_KEY_JWT, private_key_file=str(key.path), private_key_alg=key.algorithm
    )


def client_metadata(redirect_uri: str, client_name: str) -> dict[str, Any]:
    """What the client asks to be registered with (CL-12; RFC 7591 §2; MCP DCR).

    A public native client: no secret (``none``), the authorization code grant with refresh
    tokens (MCP Refresh Tokens: list ``refresh_token`` to get them), and a loopback redirect URI
    whose port may vary at request time (RFC 8252 §7.3). MCP requires ``application_type``.
    """
    return {
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "client_name": client_name,
        "application_type": "native",
    }


async def register(
    http: httpx2.AsyncClient, metadata: AuthorizationServerMetadata, redirect_uri: str, client_name: str
) -> Registration:
    """POST the client metadata to the registration endpoint (RFC 7591 §3.1)."""
    endpoint = metadata.registration_endpoint
    if endpoint is None:
        raise RegistrationError(
            f"{metadata.issuer} has no registration_endpoint (RFC 7591): pass a pre-registered --client-id"
        )
    try:
        response = await http.post(endpoint, json=client_metadata(redirect_uri, client_name))
    except httpx2.TransportError as exc:
        raise AuthorizationServerError(f"cannot reach the registration endpoint {endpoint}: {describe(exc)}") from None
    if response.status_code not in (200, 201):
        raise RegistrationError(f"the registration was refused: {OAuthErrorResponse.read(response).text}")
    try:
        body = as_object(response.json(), "registration response")
        client_secret = optional_str(body, "client_secret")
        return Registration(
            issuer=metadata.issuer,
            client_id=required_str(body, "client_id"),
            # RFC 7591 §3.2.1 returns every registered field; a server that omits this one
            # registered what we asked, or, with a secret, its default (RFC 7591 §2).
            token_endpoint_auth_method=optional_str(body, "token_endpoint_auth_method")
            or ("client_secret_basic" if client_secret else "none"),
            client_secret=client_secret,
        )
    except ValueError as exc:
        raise RegistrationError(f"the registration response is not usable: {exc}") from None
