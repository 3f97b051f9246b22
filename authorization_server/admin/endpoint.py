"""The admin pages (issue 4): ``GET /admin/journeys`` and ``GET /admin/journeys/{journey_id}``.

The list of the latest journeys, and one journey as a sequence diagram drawn on the server
(SVG, no JavaScript), with its timeline. Behind the admin's HTTP Basic credentials
(``admin/auth.py``); never CORS, never framed (``web/pages.py``).
"""

from starlette.requests import Request
from starlette.responses import Response

from authorization_server.admin.sequence_diagrams import layout
from authorization_server.errors import NotFound
from authorization_server.services import services
from authorization_server.web.pages import page

#: How many journeys the list shows, newest first.
LIST_LIMIT = 50


async def journeys(request: Request) -> Response:
    found = services(request)
    found.admin.require_admin(request)
    return page("admin_journeys.html", timelines=await found.timelines.recent(LIST_LIMIT))


async def journey(request: Request) -> Response:
    found = services(request)
    found.admin.require_admin(request)
    timeline = await found.timelines.get(request.path_params["journey_id"])
    if timeline is None:
        raise NotFound("no such journey")
    return page("admin_journey.html", timeline=timeline, diagram=layout(timeline))
