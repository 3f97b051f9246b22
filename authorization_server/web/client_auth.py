"""How a client authenticates at the token endpoint (OAuth 2.1 §2.4.1, RFC 6749 §2.3.1).

``client_secret_basic``: ``Authorization: Basic`` with the form-urlencoded client id and secret;
``client_secret_post``: both in the body; ``private_key_jwt``: a signed ``client_assertion``
with its ``client_assertion_type`` (RFC 7523 §2.2; the ``client_id`` may be left out, it is the
assertion's ``sub``); ``none``: a public client sends only its ``client_id``. A request uses one
method, never two (OAuth 2.1 §2.4): an assertion with a secret or Basic credentials is ``invalid_request``.
"""

import base64
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse

from mcp_authz.authorization_server.clients.assertions import ASSERTION_TYPE, asserted_client_id
from mcp_authz.authorization_server.clients.entities import ClientCredentials
from mcp_authz.authorization_server.errors import InvalidClient, InvalidRequest
from mcp_authz.authorization_server.web.params import Params


def client_credentials(request: Request, params: Params) -> ClientCredentials:
    body_id = params.get("client_id")
    body_secret = params.get("client_secret")
    header = request.headers.get("authorization")
    assertion_type = params.get("client_assertion_type")
    if assertion_type is not None or params.get("client_assertion") is not None:
        if header is not None or body_secret is not None:
            raise InvalidRequest("use one client authentication method per request, not an assertion and a secret")
        return _assertion(assertion_type, params.require("client_assertion"), body_id)
    if header is not None:
        client_id, secret = _basic(header)
        if body_secret is not None:
            raise InvalidRequest("use one client authentication method per request, not Basic and a body secret")
        if body_id is not None and body_id != client_id:
            raise InvalidRequest("client_id in the body differs from the one in the Basic credentials")
        return ClientCredentials(client_id, "client_secret_basic", secret)
    if body_id is None:
        raise InvalidClient("client_id is required")
    if body_secret is not None:
        return ClientCredentials(body_id, "client_secret_post", body_secret)
    return ClientCredentials(body_id, "none")


def presented_credentials(request: Request, params: Params) -> ClientCredentials | None:
    """The client's credentials as :func:`client_credentials` reads them, or ``None`` when the request names no
    client at all: a workload's jwt-bearer grant needs none (RFC 7523 §3.1, SEP-1933)."""
    named = ("client_id", "client_secret", "client_assertion", "client_assertion_type")
    if request.headers.get("authorization") is None and all(params.get(name) is None for name in named):
        return None
    return client_credentials(request, params)


def challenge(error: InvalidClient, realm: str) -> JSONResponse:
    """401 ``invalid_client`` with a ``WWW-Authenticate`` challenge (OAuth 2.1 §3.2.4)."""
    return error.to_response({"WWW-Authenticate": f'Basic realm="{realm}"'})


def _assertion(assertion_type: str | None, assertion: str, body_id: str | None) -> ClientCredentials:
    if assertion_type != ASSERTION_TYPE:
        raise InvalidRequest(f"client_assertion_type must be {ASSERTION_TYPE}")
    client_id = asserted_client_id(assertion)
    if body_id is not None and body_id != client_id:
        raise InvalidRequest("client_id in the body differs from the client_assertion's sub")
    return ClientCredentials(client_id, "private_key_jwt", assertion=assertion)


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("only Basic client authentication is accepted in the Authorization header")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError, and the one b64decode raises for non-ASCII text
        raise InvalidClient("the Basic credentials are not valid base64") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient("the Basic credentials must be client_id:client_secret")
    return unquote_plus(client_id), unquote_plus(secret)
