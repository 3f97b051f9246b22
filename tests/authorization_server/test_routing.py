"""Routes found by their first path segment (issue 14, the application layer; ``web/routing.py``).

``IndexedRouter`` must choose, for every path and method, the route Starlette's linear scan chose:
the same endpoint, the same 405 for another method (RFC 9110 §15.5.6), the same 404 for no route.
"""

import re

from starlette.routing import BaseRoute, Match

from mcp_authz.authorization_server.app import create_app
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.authorization_server.web.routing import IndexedRouter

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


def test_a_token_request_tries_only_the_routes_of_its_first_segment():
    """Issue 14: ``/mcp/{id}/token`` is found among the issuer's own routes, not after every route before it."""
    router = create_app(Settings()).router
    assert isinstance(router, IndexedRouter)
    candidates = router.candidates["mcp"]
    assert len(candidates) < len(router.routes) / 3
    assert all(getattr(route, "path", "").startswith("/mcp/") for route in candidates)
