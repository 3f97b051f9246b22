"""Finding a request's route without trying every route in turn, and calling its endpoint (issue 14,
the application layer).

Starlette's ``Router`` tries its routes one after another, each with a call and a regular
expression, until one matches: a token request at ``/mcp/{mcp_server_id}/token`` tried 17 routes
(about 1% of a full flow's instructions). :class:`IndexedRouter` tries only the routes whose path
begins with the request's first path segment (``mcp`` for ``/mcp/demo/token``), and those whose
first segment is a parameter, in the order they were given: a route with another first segment
could never match, so the route chosen, a 405 for a known path with another method, and the
route template the access log names are the ones a linear scan finds. A request that matches no
candidate goes to Starlette's own scan, which answers 404 (or redirects a trailing slash) as
before.

:class:`Route` is Starlette's, but for how it calls an ``async def`` endpoint: Starlette wraps each
one in an exception handling layer of its own (``request_response``), with a ``Request`` of its
own, although the app's ``ExceptionMiddleware`` around the router holds the same handlers and
catches the same exceptions. Without the inner layer, an endpoint's error (an ``OAuthError``, an
``HTTPException``) reaches the outer one and gets the same answer from the same handler; the
request's ``Request`` is built once instead of twice.
"""

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette import routing
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send


class Route(routing.Route):
    """Starlette's ``Route``; an ``async def`` endpoint is called without a second exception layer (see above)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        if inspect.iscoroutinefunction(endpoint):  # Starlette's own choice for anything else
            self.app = _called_with_a_request(endpoint)


def _called_with_a_request(endpoint: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """The ASGI app of an endpoint: its ``Request`` in, its ``Response`` out; exceptions go to the app's handlers."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


class IndexedRouter(Router):
    """A ``Router`` whose HTTP requests try only the routes of their first path segment."""

    def __init__(self, routes: Sequence[BaseRoute], **options: Any) -> None:
        super().__init__(routes, **options)
        anywhere = [(index, route) for index, route in enumerate(self.routes) if _first_segment(route) is None]
        by_segment: dict[str, list[tuple[int, BaseRoute]]] = {}
        for index, route in enumerate(self.routes):
            segment = _first_segment(route)
            if segment is not None:
                by_segment.setdefault(segment, []).append((index, route))
        #: Each first segment's candidates, with the routes matching any segment, in the routes' order.
        self.candidates = {
            segment: tuple(route for _, route in sorted(found + anywhere, key=lambda pair: pair[0]))
            for segment, found in by_segment.items()
        }
        self.anywhere = tuple(route for _, route in anywhere)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        segment = get_route_path(scope)[1:].partition("/")[0]
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route in self.candidates.get(segment, self.anywhere):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:  # a known path, another method: the route answers 405
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        await super().app(scope, receive, send)  # no route: Starlette's 404 or trailing-slash redirect


def _first_segment(route: BaseRoute) -> str | None:
    """The literal first segment of a route's path (``mcp`` for ``/mcp/{id}/token``), ``None`` if it is a parameter."""
    if not isinstance(route, routing.Route | Mount):
        return None
    if isinstance(route, Mount) and not route.path:
        return None  # a mount at the root (``Mount("/")``, its path "") takes every path
    segment = route.path[1:].partition("/")[0]
    return None if "{" in segment else segment
