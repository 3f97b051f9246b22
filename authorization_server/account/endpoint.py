"""The signed-in user's connected apps: ``GET|POST /account/apps`` (MCP-SBP Confused Deputy, per-client consent).

GET lists the clients the session's user approved; without a session it says how to sign in.
POST revokes one of them, then shows the list again with a 303 (OAuth 2.1 §1.6: never 307). The
form's CSRF token is keyed by the session cookie (``web/browser.py``). Never CORS: a page, not an API.
"""

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authorization_server.account.connected_apps import FORM_PURPOSE
from authorization_server.errors import OAuthError
from authorization_server.services import services
from authorization_server.web.browser import check_csrf
from authorization_server.web.pages import error_page, form_page, page
from authorization_server.web.params import read_form

PATH = "/account/apps"


async def apps(request: Request) -> Response:
    found = services(request)
    session = found.cookies.session(request)
    if request.method == "GET":
        listed = await found.connected_apps.apps(session)
        if listed is None:
            return page("signed_out.html")
        return form_page(request, "apps.html", session, FORM_PURPOSE, view=listed)
    try:
        form = await read_form(request, found.settings.max_body_bytes)
        check_csrf(session, FORM_PURPOSE, form.get("csrf_token"))
        await found.connected_apps.revoke(session, form.require("client_id"), form.require("mcp_server_id"))
    except OAuthError as error:
        return error_page(error)
    return RedirectResponse(PATH, status_code=303)
