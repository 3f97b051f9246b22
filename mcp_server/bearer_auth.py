"""Bearer token protection of the MCP endpoint (RFC 6750 §2.1, §3; RFC 9728 §5.1; MCP authorization).

Every request to the MCP endpoint must carry ``Authorization: Bearer <token>``; the token is
read from that header only, never from the query string (OAuth 2.1 §5.1). The answers:

==========================================  ======  ===============================================
request                                     status  ``WWW-Authenticate: Bearer ...``
==========================================  ======  ===============================================
no bearer token                             401     ``resource_metadata``, ``scope`` (no ``error``)
two Authorization headers, empty token      400     ``error="invalid_request"``
invalid, expired or foreign token           401     ``error="invalid_token"``, ``resource_metadata``, ``scope``
valid token, too little scope               403     ``error="insufficient_scope"``, every scope the call needs
==========================================  ======  ===============================================

DPoP (RFC 9449 §7): ``Authorization: DPoP <token>`` with one ``DPoP`` proof header is checked by
``dpop.py`` (``ath``, the token's key, a fresh ``jti``, the nonce with ``--dpop-nonce``); every
answer to such a request challenges with ``WWW-Authenticate: DPoP algs="..."`` and its ``error``
(``invalid_dpop_proof``, ``use_dpop_nonce`` with a ``DPoP-Nonce`` header, ``invalid_token``,
``insufficient_scope``). A DPoP-bound token sent as ``Bearer`` is ``invalid_token`` (§7.2). The
audience and everything else about the token are checked as for a bearer token.

The scope check looks inside the JSON-RPC body: ``tools/call`` of a tool that needs more than
the basic scopes is refused with 403 before the SDK runs it, so clients can step up (MCP
Scope Challenge Handling). Preflight ``OPTIONS`` requests pass without a token. The body is
read whole first: over 4 MiB it is 413; not all there within ``--body-timeout`` it is 408 with
``Connection: close``; cut short by the client closing, the request ends with no answer and
the SDK never sees it (issue 11, items 8 and 13; docs/decisions/0029).
"""

import asyncio
import json
import logging
from collections.abc import Iterable
from functools import partial

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_authz.mcp_server.dpop import DpopCheck, Refused
from mcp_authz.mcp_server.settings import Settings
from mcp_authz.mcp_server.token_verifier import InvalidToken, IssuerUnavailable, Verifier
from mcp_authz.shared.dpop import dpop_challenge
from mcp_authz.shared.scopes import format_scope
from mcp_authz.shared.well_known import protected_resource_metadata_url
from mcp_authz.shared.www_authenticate import bearer_challenge

log = logging.getLogger("mcp_server")

#: The SDK's own limit for MCP request bodies (mcp.server.transport_security).
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Sent with a 408: the rest of a late body must not be read as the next request (RFC 9110 §15.5.9).
CLOSE = (b"connection", b"close")


class ClientGone(Exception):
    """The client closed the connection before its request body had all arrived."""


class BearerAuth:
    """ASGI middleware in front of the MCP endpoint. Other paths pass through untouched."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        verifier: Verifier,
        tool_scopes: dict[str, tuple[str, ...]],
        implied_scopes: dict[str, tuple[str, ...]],
    ) -> None:
        self.app = app
        self._path = settings.mcp_path
        self._verifier = verifier
        self._basic_scopes = settings.scopes
        self._tool_scopes = tool_scopes
        self._implied = implied_scopes
        self._resource_metadata = protected_resource_metadata_url(settings.resource)
        self._body_timeout = settings.body_timeout
        self._dpop = DpopCheck(settings.resource, require_nonce=settings.dpop_nonce)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self._path or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        authorizations = [value for name, value in scope["headers"] if name == b"authorization"]
        scheme, _, credentials = (authorizations[0] if authorizations else b"").partition(b" ")
        dpop = scheme.lower() == b"dpop"
        given = credentials.strip() if dpop or scheme.lower() == b"bearer" else b""
        challenge = partial(self._challenge, send, dpop=dpop)
        if len(authorizations) > 1 or (authorizations and not given and (dpop or scheme.lower() == b"bearer")):
            await challenge(400, error="invalid_request", description="send one bearer or DPoP token")
            return
        if not given:
            await challenge(401)
            return
        access_token = given.decode("latin-1")
        try:
            token = await self._verifier.verify(access_token)
        except InvalidToken as exc:
            await challenge(401, error="invalid_token", description=str(exc))
            return
        except IssuerUnavailable as exc:
            await _json(send, 503, {"error": "temporarily_unavailable", "error_description": str(exc)})
            return
        bound_to = token.claims.get("jkt") if token.claims else None
        if dpop:
            proofs = [value for name, value in scope["headers"] if name == b"dpop"]
            try:
                self._dpop.check(proofs, scope["method"], access_token, bound_to)
            except Refused as refused:
                await challenge(401, error=refused.error, description=str(refused), nonce=refused.nonce)
                return
        elif bound_to is not None:
            description = "this access token is bound to a DPoP key: send it as DPoP with a proof (RFC 9449 §7.2)"
            await self._challenge(send, 401, dpop=True, error="invalid_token", description=description)
            return
        granted = self._with_implied(token.scopes)
        missing_basic = [s for s in self._basic_scopes if s not in granted]
        if missing_basic:
            await challenge(403, error="insufficient_scope", scopes=self._basic_scopes)
            return
        body = None
        if scope["method"] == "POST":
            try:
                body = await _read_body(receive, self._body_timeout)
            except ClientGone:
                return  # nobody to answer: no 500, no traceback, and the SDK never sees half a body
            except TimeoutError:
                description = f"the request body did not arrive within {self._body_timeout} s"
                await _json(send, 408, {"error": "invalid_request", "error_description": description}, [CLOSE])
                return
            if body is None:
                description = "the request body is too large"
                await _json(send, 413, {"error": "invalid_request", "error_description": description})
                return
        needed = self._scopes_for(body) if body else ()
        if needed and not set(needed) <= granted:
            await challenge(403, error="insufficient_scope", scopes=needed)
            return
        scope["user"] = AuthenticatedUser(token)
        scope["auth"] = AuthCredentials(token.scopes)
        if dpop and self._dpop.require_nonce:
            send = _with_header(send, b"dpop-nonce", self._dpop.nonce().encode())
        await self.app(scope, _replay(body, receive) if body is not None else receive, send)

    def _with_implied(self, scopes: Iterable[str]) -> set[str]:
        """The granted scopes and those they imply (MCP: servers MUST respect scope hierarchies)."""
        granted = set(scopes)
        for held in list(granted):
            granted.update(self._implied.get(held, ()))
        return granted

    def _scopes_for(self, body: bytes) -> tuple[str, ...]:
        """Every scope the JSON-RPC message (or batch) needs beyond the basic ones."""
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):  # ValueError: also numbers past int_max_str_digits
            return ()  # not ours to judge: the SDK answers malformed JSON-RPC
        needed: dict[str, None] = {}
        for call in message if isinstance(message, list) else [message]:
            if isinstance(call, dict) and call.get("method") == "tools/call" and isinstance(call.get("params"), dict):
                name = call["params"].get("name")
                needed.update(dict.fromkeys(self._tool_scopes.get(name, ()) if isinstance(name, str) else ()))
        return tuple(needed)

    async def _challenge(
        self,
        send: Send,
        status: int,
        *,
        error: str | None = None,
        description: str | None = None,
        scopes: tuple[str, ...] | None = None,
        dpop: bool = False,
        nonce: str | None = None,
    ) -> None:
        """RFC 6750 §3 with RFC 9728 §5.1: where to find the metadata, and the scope to ask for.

        ``dpop``: the request used the DPoP scheme, and so does the challenge (RFC 9449 §7.1), with
        ``nonce`` in a ``DPoP-Nonce`` header when one is asked for (§9).
        """
        build = dpop_challenge if dpop else bearer_challenge
        challenge = build(
            error=error,
            error_description=description,
            resource_metadata=self._resource_metadata,
            scope=format_scope(scopes or self._basic_scopes),
        )
        body = {"error": error} if error else {}
        body["error_description"] = (
            description or f"this call needs a bearer token with scope {format_scope(scopes or self._basic_scopes)!r}"
        )
        headers = [(b"www-authenticate", challenge.encode())]
        if nonce is not None:
            headers.append((b"dpop-nonce", nonce.encode()))
        await _json(send, status, body, headers)


async def _read_body(receive: Receive, timeout: float) -> bytes | None:
    """The whole request body, or ``None`` when it exceeds the limit.

    ``TimeoutError`` when it has not all arrived within ``timeout`` seconds, ``ClientGone`` when the
    client closed the connection before (issue 11, items 13 and 8).
    """
    chunks: list[bytes] = []
    size = 0
    more = True
    async with asyncio.timeout(timeout):
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
    return b"".join(chunks)


def _with_header(send: Send, name: bytes, value: bytes) -> Send:
    """A ``send`` that adds one header to the response's start (a fresh ``DPoP-Nonce``, RFC 9449 §9)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (name, value)]}
        await send(message)

    return sending


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the app, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _json(send: Send, status: int, body: dict[str, str], headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
