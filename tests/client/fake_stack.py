"""A tiny MCP server and authorization server in one process, wrong on purpose where told to.

The real servers always answer correctly, so the client's checks of a wrong answer (another
issuer's ``iss``, no ``iss``, a forged ``state``, metadata for another resource or issuer, no
S256, a ``javascript:`` endpoint) need a server that gives one. This one serves just enough of
each protocol for the client to reach the check under test, on a loopback port, from a thread
of the test process, and records every request it receives.
"""

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_authz.shared.www_authenticate import bearer_challenge
from tests.client.threaded import ThreadedServer

RIGHT = "right"  # the value a correct server would send
FAKE_CODE = "fake-authorization-code-0123456789"


@dataclass
class Behaviour:
    """How the fake answers; every default is what a correct server would do."""

    #: Whether the protected resource metadata is served at all.
    publishes_metadata: bool = True
    #: ``resource`` of the protected resource metadata.
    resource: str = RIGHT
    #: The issuer the protected resource metadata names.
    authorization_server: str = RIGHT
    #: ``issuer`` of the authorization server metadata.
    metadata_issuer: str = RIGHT
    code_challenge_methods: list[str] = field(default_factory=lambda: ["S256"])
    authorization_endpoint: str = RIGHT
    iss_supported: bool = True
    registration_error: str | None = None
    #: ``iss`` of the authorization response: RIGHT, ``None`` (left out) or another string.
    iss: str | None = RIGHT
    #: ``state`` of the authorization response: RIGHT, ``None`` (left out) or another string.
    state: str | None = RIGHT
    error: str | None = None
    error_description: str | None = None
    token_error: str | None = None
    #: Whether the metadata names a revocation endpoint (RFC 7009), which then answers 200.
    revocation: bool = False
    #: Whether the MCP server answers every request with a token 403 ``insufficient_scope``, scope mcp:write.
    insufficient_scope: bool = False
    #: Whether the metadata says ``client_id_metadata_document_supported: true``.
    metadata_documents: bool = False
    #: ``scopes_supported`` of the authorization server metadata, left out when ``None``.
    as_scopes_supported: list[str] | None = None
    #: Whether the protected resource metadata names the second issuer (``/as2``) once a token was sent.
    moves_to_second_issuer: bool = False
    #: An MCP 2025-03-26 server: a challenge without ``resource_metadata``, no protected resource metadata,
    #: and its authorization server at its origin without metadata, at the default endpoints.
    march_2025: bool = False


class FakeStack:
    def __init__(self) -> None:
        self._server = ThreadedServer(self._app())
        self.port = self._server.port
        self.behaviour = Behaviour()
        self.requests: list[str] = []
        #: The forms the revocation endpoint received, in order.
        self.revoked: list[dict[str, str]] = []
        #: The ``scope`` of each authorization request received, in order ("" when left out).
        self.authorized_scopes: list[str] = []
        #: The token endpoint's requests: their form, with the Authorization header as "authorization" if sent.
        self.token_requests: list[dict[str, str]] = []
        #: Whether the MCP server has received a request with a token since the last reset.
        self.token_seen = False

    @property
    def base(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    @property
    def issuer(self) -> str:
        return f"{self.base}/as"

    @property
    def second_issuer(self) -> str:
        """The authorization server the MCP server moves to (``moves_to_second_issuer``)."""
        return f"{self.base}/as2"

    def start(self) -> "FakeStack":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self, **behaviour: Any) -> None:
        self.behaviour = Behaviour(**behaviour)
        self.requests.clear()
        self.revoked.clear()
        self.authorized_scopes.clear()
        self.token_requests.clear()
        self.token_seen = False

    def _issuer_of(self, request: Request) -> str:
        """The issuer whose endpoint or metadata ``request`` asks for: ``/as...`` or ``/as2...``."""
        second = request.url.path.startswith("/as2/") or request.url.path.endswith("/as2")
        return self.second_issuer if second else self.issuer

    def _or_right(self, value: str, right: str) -> str:
        return right if value == RIGHT else value

    def _app(self) -> ASGIApp:
        async def mcp(request: Request) -> Response:
            self.token_seen = self.token_seen or "authorization" in request.headers
            if self.behaviour.insufficient_scope and "authorization" in request.headers:
                challenge = bearer_challenge(error="insufficient_scope", scope="mcp:write")
                return JSONResponse(
                    {"error": "insufficient_scope"}, status_code=403, headers={"WWW-Authenticate": challenge}
                )
            challenge = bearer_challenge(
                resource_metadata=None
                if self.behaviour.march_2025
                else f"{self.base}/.well-known/oauth-protected-resource/mcp",
                scope="mcp:read",
            )
            return JSONResponse({}, status_code=401, headers={"WWW-Authenticate": challenge})

        async def protected_resource(request: Request) -> Response:
            behaviour = self.behaviour
            if not behaviour.publishes_metadata:
                return JSONResponse({}, status_code=404)
            issuer = self.second_issuer if behaviour.moves_to_second_issuer and self.token_seen else self.issuer
            return JSONResponse(
                {
                    "resource": self._or_right(behaviour.resource, self.mcp_url),
                    "authorization_servers": [self._or_right(behaviour.authorization_server, issuer)],
                    "scopes_supported": ["mcp:read"],
                }
            )

        async def metadata(request: Request) -> Response:
            behaviour = self.behaviour
            issuer = self._issuer_of(request)
            return JSONResponse(
                {
                    "issuer": self._or_right(behaviour.metadata_issuer, issuer),
                    "authorization_endpoint": self._or_right(behaviour.authorization_endpoint, f"{issuer}/authorize"),
                    "token_endpoint": f"{issuer}/token",
                    "registration_endpoint": f"{issuer}/register",
                    "response_types_supported": ["code"],
                    "code_challenge_methods_supported": behaviour.code_challenge_methods,
                    "authorization_response_iss_parameter_supported": behaviour.iss_supported,
                }
                | ({"revocation_endpoint": f"{issuer}/revoke"} if behaviour.revocation else {})
                | ({"client_id_metadata_document_supported": True} if behaviour.metadata_documents else {})
                | ({"scopes_supported": behaviour.as_scopes_supported} if behaviour.as_scopes_supported else {})
            )

        async def register(request: Request) -> Response:
            if self.behaviour.registration_error:
                return JSONResponse(
                    {"error": "invalid_client_metadata", "error_description": self.behaviour.registration_error}, 400
                )
            client_id = "fake-client" if self._issuer_of(request) == self.issuer else "fake-client-2"
            return JSONResponse({"client_id": client_id, "token_endpoint_auth_method": "none"}, 201)

        async def authorize(request: Request) -> Response:
            behaviour = self.behaviour
            self.authorized_scopes.append(request.query_params.get("scope", ""))
            params = {
                "code": None if behaviour.error else FAKE_CODE,
                "error": behaviour.error,
                "error_description": behaviour.error_description,
                "state": self._or_right(behaviour.state, request.query_params["state"]) if behaviour.state else None,
                "iss": self._or_right(behaviour.iss, self._issuer_of(request)) if behaviour.iss else None,
            }
            query = urlencode({name: value for name, value in params.items() if value is not None})
            return RedirectResponse(f"{request.query_params['redirect_uri']}?{query}", status_code=303)

        async def token(request: Request) -> Response:
            form = {name: str(value) for name, value in (await request.form()).items()}
            header = {"authorization": request.headers["authorization"]} if "authorization" in request.headers else {}
            self.token_requests.append(form | header)
            if self.behaviour.token_error:
                return JSONResponse({"error": self.behaviour.token_error}, 400)
            return JSONResponse({"access_token": "fake-access-token", "token_type": "Bearer", "expires_in": 60})

        async def revoke(request: Request) -> Response:
            form = await request.form()
            self.revoked.append({name: str(value) for name, value in form.items()})
            return Response(status_code=200)

        app = Starlette(
            routes=[
                Route("/mcp", mcp, methods=["POST"]),
                Route("/.well-known/oauth-protected-resource/mcp", protected_resource),
                # The default endpoints of a 2025-03-26 server without metadata, at its origin.
                Route("/register", register, methods=["POST"]),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                *(
                    route
                    for name in ("as", "as2")
                    for route in (
                        Route(f"/.well-known/oauth-authorization-server/{name}", metadata),
                        Route(f"/{name}/register", register, methods=["POST"]),
                        Route(f"/{name}/authorize", authorize),
                        Route(f"/{name}/token", token, methods=["POST"]),
                        Route(f"/{name}/revoke", revoke, methods=["POST"]),
                    )
                ),
            ]
        )

        async def record(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.requests.append(f"{scope['method']} {scope['path']}")
            await app(scope, receive, send)

        return record
