"""Routes found by their first path segment (issue 14, the application layer; ``web/routing.py``).

``IndexedRouter`` must choose, for every path and method, the route Starlette's linear scan chose:
the same endpoint, the same 405 for another method (RFC 9110 §15.5.6), the same 404 for no route.
"""

import re

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Message

from mcp_authz.authorization_server.app import create_app
from mcp_authz.authorization_server.errors import InvalidRequest, OAuthError
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.authorization_server.web.routing import IndexedRouter, Route

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")


def first_match(routes: tuple[BaseRoute, ...] | list[BaseRoute], path: str, method: str) -> tuple[int, str] | None:
    """What a linear scan of ``routes`` chooses: the first full match, else the first partial one (405)."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method}
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return id(route), "full"
        if match is Match.PARTIAL and partial is None:
            partial = (id(route), "partial")
    return partial


def sample_paths(router: IndexedRouter) -> list[str]:
    """A path for every route (each parameter filled in), its trailing-slash twin, and paths of no route."""
    paths = ["/", "/nothing", "/mcp", "/mcp/demo/nothing", "/static", "/.well-known/other", "/admin/nothing"]
    for route in router.routes:
        path = re.sub(r"\{[^}]+\}", "demo", getattr(route, "path", ""))
        paths += [path or "/", path + "/", path + "/app.css"]
    return paths


def test_the_indexed_router_chooses_what_the_linear_scan_chose():
    """Issue 14: for every route's path (and its neighbours) and every method, the same route or none."""
    app = create_app(Settings())
    router = app.router
    assert isinstance(router, IndexedRouter)
    for path in sample_paths(router):
        segment = path[1:].partition("/")[0]
        for method in METHODS:
            candidates = router.candidates.get(segment, router.anywhere)
            assert first_match(candidates, path, method) == first_match(router.routes, path, method), (path, method)


def test_a_mount_at_the_root_is_a_candidate_for_every_first_segment():
    """Issue 14: ``Mount("/")`` (its path "") matches every path in a linear scan, so it stays a candidate
    whatever the request's first segment, behind the routes listed before it."""

    async def endpoint(request: Request) -> Response:
        return Response()

    token = Route("/mcp/{mcp_server_id}/token", endpoint, methods=["POST"])
    root = Mount("/", routes=[Route("/{anything:path}", endpoint)])
    router = IndexedRouter([token, root])

    for path in ("/", "/mcp/demo/token", "/mcp/demo/other", "/elsewhere/page"):
        segment = path[1:].partition("/")[0]
        candidates = router.candidates.get(segment, router.anywhere)
        assert root in candidates, path
        assert first_match(candidates, path, "GET") == first_match(router.routes, path, "GET"), path


def test_a_token_request_tries_only_the_routes_of_its_first_segment():
    """Issue 14: ``/mcp/{id}/token`` is found among the issuer's own routes, not after every route before it."""
    router = create_app(Settings()).router
    assert isinstance(router, IndexedRouter)
    candidates = router.candidates["mcp"]
    assert len(candidates) < len(router.routes) / 3
    assert all(getattr(route, "path", "").startswith("/mcp/") for route in candidates)


async def _call(app: Starlette, path: str) -> tuple[int, bytes]:
    """One GET through ``app`` as uvicorn would send it: the status and body of its answer."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": [],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 9000),
    }  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


def test_an_endpoint_error_gets_the_apps_handler_through_the_one_exception_layer():
    """Issue 14: without Starlette's per-route exception layer, an endpoint's OAuthError (RFC 6749 §5.2) is
    answered by the app's handler, which still sees the matched route; other endpoints answer as before."""
    seen: list[str] = []

    async def refuses(request: Request) -> Response:
        raise InvalidRequest("refused here")

    async def answers(request: Request) -> Response:
        return JSONResponse({"path": request.url.path})

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OAuthError)
        seen.append(request.scope["route"].path)
        return exc.to_response()

    app = Starlette(exception_handlers={OAuthError: handler})
    app.router = IndexedRouter([Route("/refuses", refuses), Route("/answers", answers)])

    assert anyio.run(_call, app, "/refuses") == (400, b'{"error":"invalid_request","error_description":"refused here"}')
    assert seen == ["/refuses"]
    assert anyio.run(_call, app, "/answers") == (200, b'{"path":"/answers"}')
    assert anyio.run(_call, app, "/nothing")[0] == 404
