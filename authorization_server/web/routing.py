"""Finding a request's route without trying every route in turn (issue 14, the application layer).

Starlette's ``Router`` tries its routes one after another, each with a call and a regular
expression, until one matches: a token request at ``/mcp/{mcp_server_id}/token`` tried 17 routes
(about 1% of a full flow's instructions). :class:`IndexedRouter` tries only the routes whose path
begins with the request's first path segment (``mcp`` for ``/mcp/demo/token``), and those whose
first segment is a parameter, in the order they were given: a route with another first segment
could never match, so the route chosen, a 405 for a known path with another method, and the
route template the access log names are the ones a linear scan finds. A request that matches no
candidate goes to Starlette's own scan, which answers 404 (or redirects a trailing slash) as
before.
"""

from collections.abc import Sequence
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send


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
    if not isinstance(route, Route | Mount):
        return None
    segment = route.path[1:].partition("/")[0]
    return None if "{" in segment else segment
