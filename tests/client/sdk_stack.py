"""The mcp SDK's own authorization server and MCP server on loopback: servers written by others.

The authorization server is the SDK's ``create_auth_routes`` (RFC 8414 metadata, RFC 7591
registration, authorize, token, RFC 7009 revocation) over ``scripts.sdk_provider.MemoryProvider``, an
in-memory ``OAuthAuthorizationServerProvider`` that approves every request as the user :data:`PEER_USER`
without a page, so ``--headless`` goes through. The MCP server is the SDK's ``MCPServer`` with
``AuthSettings`` and the SDK's ``ProviderTokenVerifier``: it serves its own protected resource
metadata and 401 challenge, and accepts only tokens issued for its URL (``validate_token_resource``).

The token endpoint is fronted by :class:`TokenFront`, which records every request and passes it
on unchanged. With ``machine=True`` it also serves what the SDK's authorization server lacks: the
``client_credentials`` grant (OAuth 2.1 §4.2) authenticated with ``private_key_jwt`` (RFC 7523
§2.2), so that tests can read the assertion as the client sent it (this project's server verifies
assertions but never shows them). Assertions are verified for real with pyjwt: signature,
``iss`` = ``sub`` = client_id, ``aud`` = the issuer, ``exp``, ``iat``, a lifetime of at most five
minutes, and a ``jti`` never seen before. The metadata then lists that grant and that method.
"""

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from mcp.server.auth.handlers.metadata import MetadataHandler
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import (
    ProviderTokenVerifier,
)
from mcp.server.auth.routes import build_metadata, cors_middleware, create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_authz.client.assertion import ASSERTION_TYPE
from scripts.sdk_provider import MemoryProvider
from scripts.stack import free_port
from tests.client.threaded import ThreadedServer

PEER_USER = "peer-user"
SCOPES = ["peer:read", "peer:write"]
REQUIRED_SCOPES = ["peer:read"]
MAX_ASSERTION_LIFETIME = 300
ASSERTION_ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"]


class Refused(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.response = JSONResponse({"error": error, "error_description": description}, status_code=status)


@dataclass
class TokenFront:
    """In front of the SDK's token endpoint: records each request, and with ``machine`` serves its missing parts."""

    issuer: str
    provider: MemoryProvider
    machine: bool
    #: The form of each token request, with its ``Authorization`` header as "authorization" if sent.
    requests: list[dict[str, str]] = field(default_factory=list)
    #: The claims of each assertion verified.
    assertions: list[dict[str, Any]] = field(default_factory=list)
    #: The public key of each client the front knows, by client_id.
    clients: dict[str, PublicKeyTypes] = field(default_factory=dict)
    _seen_jtis: set[str] = field(default_factory=set)
    #: The SDK's token endpoint, which every request not answered here goes on to.
    sdk_token: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.sdk_token is not None
        body = await Request(scope, receive).body()
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
        self.requests.append(form | ({"authorization": authorization} if authorization else {}))
        if self.machine:
            try:
                answer = self.answer(form)
            except Refused as refused:
                await refused.response(scope, receive, send)
                return
            if isinstance(answer, Response):
                await answer(scope, receive, send)
                return
            body = urlencode(answer).encode()

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.sdk_token(scope, replay, send)

    def answer(self, form: dict[str, str]) -> Response | dict[str, str]:
        """The client_credentials grant's response, or the form to pass on (assertion checked and removed)."""
        if "client_assertion" not in form and "client_assertion_type" not in form:
            return form
        client_id = self.verify_assertion(form)
        form = {name: value for name, value in form.items() if not name.startswith("client_assertion")}
        if form.get("grant_type") != "client_credentials":
            return form
        scopes = form["scope"].split() if form.get("scope") else REQUIRED_SCOPES
        issued = self.provider.issue(client_id, scopes, form.get("resource"), None, refresh=False)
        return JSONResponse(issued.model_dump(exclude_none=True), headers={"Cache-Control": "no-store"})

    def verify_assertion(self, form: dict[str, str]) -> str:
        """RFC 7523 §3: the assertion's signature and claims; the client_id it proves."""
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise Refused("invalid_client", "client_assertion_type is not jwt-bearer", 401)
        assertion = form.get("client_assertion", "")
        try:
            client_id = str(jwt.decode(assertion, options={"verify_signature": False}).get("iss"))
            public_key = self.clients.get(client_id)
            if public_key is None:
                raise Refused("invalid_client", "no key is registered for the assertion's iss", 401)
            claims: dict[str, Any] = jwt.decode(
                assertion,
                public_key,  # type: ignore[arg-type]
                algorithms=ASSERTION_ALGORITHMS,
                audience=self.issuer,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise Refused("invalid_client", f"the assertion is not valid: {exc}", 401) from None
        if claims["sub"] != client_id or form.get("client_id", client_id) != client_id:
            raise Refused("invalid_client", "iss, sub and client_id differ", 401)
        if claims["exp"] - claims["iat"] > MAX_ASSERTION_LIFETIME:
            raise Refused("invalid_client", "the assertion lives too long", 401)
        if claims["jti"] in self._seen_jtis:
            raise Refused("invalid_client", "the assertion was used before", 401)
        self._seen_jtis.add(claims["jti"])
        self.assertions.append(claims)
        return client_id


class SdkStack:
    """The SDK's authorization server and MCP server, each on a free loopback port."""

    def __init__(self, *, machine: bool = False) -> None:
        self.provider = MemoryProvider(PEER_USER)
        self.issuer = f"http://localhost:{free_port()}"
        self.mcp_url = f"http://localhost:{free_port()}/mcp"
        # The issuer identifier as the SDK's metadata spells it (a trailing slash), the assertions' audience.
        self.token_front = TokenFront(str(AnyHttpUrl(self.issuer)), self.provider, machine)
        #: Each request the MCP server received: its path with the query, and its headers (names in lower case).
        self.mcp_requests: list[tuple[str, dict[str, str]]] = []
        self._authorization_server = ThreadedServer(
            self._authorization_server_app(machine), port=urlsplit(self.issuer).port
        )
        self._mcp = ThreadedServer(self._recorded(self._mcp_app()), port=urlsplit(self.mcp_url).port, lifespan="on")

    def start(self) -> "SdkStack":
        self._authorization_server.start()
        self._mcp.start()
        return self

    def stop(self) -> None:
        self._mcp.stop()
        self._authorization_server.stop()

    def _authorization_server_app(self, machine: bool) -> Starlette:
        registration = ClientRegistrationOptions(enabled=True, valid_scopes=SCOPES, default_scopes=SCOPES)
        revocation = RevocationOptions(enabled=True)
        issuer = AnyHttpUrl(self.issuer)
        sdk_routes = create_auth_routes(self.provider, issuer, None, registration, revocation)
        self.token_front.sdk_token = next(route.app for route in sdk_routes if route.path == "/token")
        routes = [Route("/token", self.token_front, methods=["POST"])]
        if machine:
            metadata = build_metadata(issuer, None, registration, revocation)
            assert metadata.grant_types_supported is not None and metadata.token_endpoint_auth_methods_supported
            metadata.grant_types_supported.append("client_credentials")
            metadata.token_endpoint_auth_methods_supported.append("private_key_jwt")
            metadata.token_endpoint_auth_signing_alg_values_supported = ASSERTION_ALGORITHMS
            handler = cors_middleware(MetadataHandler(metadata).handle, ["GET", "OPTIONS"])
            routes.append(Route("/.well-known/oauth-authorization-server", handler, methods=["GET", "OPTIONS"]))
        return Starlette(routes=routes + sdk_routes)

    def _recorded(self, app: ASGIApp) -> ASGIApp:
        async def record(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                target = scope["path"] + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
                headers = {name.decode(): value.decode() for name, value in scope["headers"]}
                self.mcp_requests.append((target, headers))
            await app(scope, receive, send)

        return record

    def _mcp_app(self) -> Starlette:
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(self.issuer),
            resource_server_url=AnyHttpUrl(self.mcp_url),
            required_scopes=REQUIRED_SCOPES,
            validate_token_resource=True,
        )
        server: MCPServer = MCPServer(name="sdk peer", token_verifier=ProviderTokenVerifier(self.provider), auth=auth)

        @server.tool()
        def whoami() -> dict[str, Any]:
            """The client and scopes of the caller's token."""
            token = get_access_token()
            assert token is not None
            return {"client_id": token.client_id, "scopes": token.scopes, "subject": token.subject}

        return server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
