"""Signing the resource owner in (OAuth 2.1 §3.1): ``GET|POST /interaction/{interaction_id}/login``."""

from starlette.requests import Request
from starlette.responses import Response

from authorization_server.browser import check_csrf, csrf_token
from authorization_server.endpoints.authorize import next_step
from authorization_server.errors import OAuthError
from authorization_server.pages import error_page, page
from authorization_server.params import read_form
from authorization_server.services import services


async def login(request: Request) -> Response:
    found = services(request)
    interaction_id = request.path_params["interaction_id"]
    browser_secret = found.cookies.browser_secret(request)
    try:
        view = await found.interactions.login_view(interaction_id, browser_secret)
        if request.method == "GET":
            return _login_page(request, view, browser_secret or "", interaction_id)
        form = await read_form(request, found.settings.max_body_bytes)
        check_csrf(browser_secret, interaction_id, form.get("csrf_token"))
        username, password = form.get("username") or "", form.get("password") or ""
        result = await found.interactions.login(interaction_id, browser_secret, username, password)
    except OAuthError as error:
        return error_page(error)
    if result is None:
        return _login_page(
            request,
            view,
            browser_secret or "",
            interaction_id,
            error="Wrong username or password.",
            username=username,
        )
    session, outcome = result
    response = next_step(outcome)
    found.cookies.set_session(response, session)
    return response


def _login_page(request: Request, view: object, browser_secret: str, interaction_id: str, **extra: str) -> Response:
    return page(
        "login.html",
        view=view,
        action=request.url.path,
        csrf_token=csrf_token(browser_secret, interaction_id),
        **extra,
    )
