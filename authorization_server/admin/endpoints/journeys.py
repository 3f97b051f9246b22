"""The console's journeys pages (issues 4 and 17).

- ``GET /admin/journeys`` and ``GET /admin/journeys/{journey_id}``: the journeys, newest first, 50 a
  page, filtered by client, user, MCP server, outcome and start date; one as a sequence diagram drawn
  on the server (SVG, no JavaScript).
"""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.admin.endpoints.shared import console_page, page
from mcp_authz.authorization_server.admin.sequence_diagrams import layout
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.journeys.entities import JourneySearch, JourneyStatus
from mcp_authz.authorization_server.routes import ADMIN_JOURNEYS_PATH
from mcp_authz.authorization_server.services import Services
from mcp_authz.authorization_server.web.pages import error_page
from mcp_authz.authorization_server.web.params import query_params

#: How many journeys the list shows, newest first.
LIST_LIMIT = 50


@console_page
async def journeys(request: Request, found: Services, session: str | None) -> Response:
    """The journeys, newest first, a page of ``LIST_LIMIT`` at a time, by client, user, MCP server, outcome, time."""
    query = query_params(request)
    chosen = {name: (query.get(name) or "").strip() for name in JOURNEY_FILTERS}
    try:
        wanted = JourneySearch(
            client_id=chosen["client"] or None,
            mcp_server_id=chosen["mcp_server"] or None,
            status=_status(chosen["outcome"]),
            since=_day(chosen["since"], "since"),
            until=_day(chosen["until"], "until", next_day=True),
            before=_cursor(query.get("before_at"), query.get("before_id")),
            limit=LIST_LIMIT + 1,
        )
    except InvalidRequest as error:
        return error_page(error)
    timelines = await found.journey_console.search(wanted, chosen["user"] or None)
    more = len(timelines) > LIST_LIMIT
    timelines = timelines[:LIST_LIMIT]
    next_page = None
    if more:
        last = timelines[-1]
        cursor = {"before_at": last.started_at.isoformat(), "before_id": last.journey_id}
        next_page = f"{ADMIN_JOURNEYS_PATH}?{urlencode({**{k: v for k, v in chosen.items() if v}, **cursor})}"
    return page(
        request,
        session,
        "admin_journeys.html",
        timelines=timelines,
        chosen=chosen,
        outcomes=[status.value for status in JourneyStatus],
        next_page=next_page,
        first_page=f"{ADMIN_JOURNEYS_PATH}?{urlencode({k: v for k, v in chosen.items() if v})}"
        if query.get("before_id")
        else None,
    )


#: The journeys page's filters, as named in its query.
JOURNEY_FILTERS = ("client", "user", "mcp_server", "outcome", "since", "until")


def _status(text: str) -> JourneyStatus | None:
    if not text:
        return None
    try:
        return JourneyStatus(text)
    except ValueError:
        raise InvalidRequest(f"no such outcome: {text!r}") from None


def _day(text: str, name: str, *, next_day: bool = False) -> datetime | None:
    """A date (``YYYY-MM-DD``, UTC) from a filter; ``until`` is inclusive, so it ends at the next midnight."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRequest(f"{name} must be a date, YYYY-MM-DD") from None
    return day + timedelta(days=1) if next_day else day


def _cursor(at: str | None, journey_id: str | None) -> tuple[datetime, str] | None:
    """Where the next page starts: after the journey that ended the page before."""
    if not (at and journey_id):
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise InvalidRequest("before_at must be an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidRequest("before_at must carry its UTC offset")
    return moment, journey_id


@console_page
async def journey(request: Request, found: Services, session: str | None) -> Response:
    timeline = await found.timelines.get(request.path_params["journey_id"])
    if timeline is None:
        raise NotFound("no such journey")
    return page(
        request,
        session,
        "admin_journey.html",
        timeline=timeline,
        diagram=layout(timeline),
        journeys_path=ADMIN_JOURNEYS_PATH,
    )
