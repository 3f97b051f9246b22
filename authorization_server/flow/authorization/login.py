"""Signing the resource owner in (OAuth 2.1 §3.1): ``GET|POST /interaction/{interaction_id}/login``.

Attempts are rate limited per address and username, and a username is locked for an address
after repeated failures from there (``web/rate_limits.py``, ``accounts/lockout.py``): the form
comes back with 429, the wait and no hint whether the username exists. A disabled account
(``users disable``) gets the form with 403 and says so, only after its right password.
"""

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_authz.authorization_server.errors import AccountDisabled, OAuthError, TooManyRequests
from mcp_authz.authorization_server.flow.authorization.interactions import LoginView
from mcp_authz.authorization_server.routes import CONSENT_PATH
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.browser import check_csrf
from mcp_authz.authorization_server.web.pages import error_page, form_page
from mcp_authz.authorization_server.web.params import read_form
from mcp_authz.authorization_server.web.rate_limits import address_of
from mcp_authz.authorization_server.web.redirects import next_step


async def login(request: Request) -> Response:
    found = services(request)
    interaction_id = request.path_params["interaction_id"]
    browser_secret = found.cookies.browser_secret(request)
    try:
        view = await found.interactions.login_view(interaction_id, browser_secret)
        if view.signed_in:  # back from the consent page, say: there is nothing to sign in to
            return RedirectResponse(CONSENT_PATH.format(interaction_id=interaction_id), status_code=303)
        if request.method == "GET":
            return form_page(request, "login.html", browser_secret, interaction_id, view=view)
        form = await read_form(request, found.settings.max_body_bytes)
        check_csrf(browser_secret, interaction_id, form.get("csrf_token"))
        username, password = form.get("username") or "", form.get("password") or ""
    except OAuthError as error:
        return error_page(error)
    try:  # the form again only once there is a view and a username to show in it
        found.limits.login(request, username)
        address = address_of(request)
        result = await found.interactions.login(interaction_id, browser_secret, username, password, address)
    except (TooManyRequests, AccountDisabled) as refused:
        return _form_again(request, browser_secret, interaction_id, view, username, refused)
    except OAuthError as error:
        return error_page(error)
    if result is None:
        return _form_again(request, browser_secret, interaction_id, view, username, None)
    session, outcome = result
    response = next_step(outcome)
    found.cookies.set_session(response, session)
    return response


def _form_again(
    request: Request,
    browser_secret: str | None,
    interaction_id: str,
    view: LoginView,
    username: str,
    refused: TooManyRequests | AccountDisabled | None,
) -> Response:
    """The sign-in form once more, saying why: a wrong password, a limit and its wait (429), or an account
    the operator disabled (403, issue 17)."""
    if refused is None:
        status, headers, message = 200, None, "Wrong username or password."
    else:
        status, headers, message = refused.status_code, refused.headers(), refused.description
    return form_page(
        request,
        "login.html",
        browser_secret,
        interaction_id,
        status,
        headers,
        view=view,
        error=message,
        username=username,
    )
