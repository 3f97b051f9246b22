"""The console's door: its sign-in and sign-out, and ``GET /admin``, which leads to the clients.

- ``GET|POST /admin/sign-in``: the admin's username and password (settings) give a session cookie;
  failures are counted per address and lock it out as HTTP Basic's do (``admin/auth.py``, issue 11
  item 10). The form's CSRF token is keyed by the browser cookie (OAuth 2.1 §7.10, login CSRF).
- ``POST /admin/sign-out``: the session ends, its cookie goes.
"""

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_authz.authorization_server.admin.auth import AdminSignInFailed
from mcp_authz.authorization_server.admin.endpoints.shared import FORM_PURPOSE, console_page
from mcp_authz.authorization_server.errors import OAuthError, TooManyRequests
from mcp_authz.authorization_server.routes import ADMIN_CLIENTS_PATH, ADMIN_SIGN_IN_PATH
from mcp_authz.authorization_server.services import Services, services
from mcp_authz.authorization_server.web.browser import check_csrf
from mcp_authz.authorization_server.web.pages import error_page, form_page
from mcp_authz.authorization_server.web.params import query_params, read_form

#: What the sign-in form proves, keyed by the browser cookie.
SIGN_IN_PURPOSE = "admin/sign-in"


async def sign_in(request: Request) -> Response:
    found = services(request)
    guard = found.admin
    guard.require_pages()
    if request.method == "GET" and await guard.session(request) is not None:
        return RedirectResponse(ADMIN_CLIENTS_PATH, status_code=303)
    browser = found.cookies.browser_secret(request)
    fresh = browser is None
    secret = browser or secrets.token_urlsafe(32)
    error, status, headers, username = None, 200, None, ""
    if request.method == "POST":
        try:
            form = await read_form(request, found.settings.max_body_bytes)
            check_csrf(browser, SIGN_IN_PURPOSE, form.get("csrf_token"))
            username = form.get("username") or ""
            session = await guard.sign_in(request, username, form.get("password") or "")
        except AdminSignInFailed as failed:
            error, status = failed.description, 401
        except TooManyRequests as locked:
            error, status, headers = locked.description, 429, locked.headers()
        except OAuthError as failure:
            return error_page(failure)
        else:
            response: Response = RedirectResponse(ADMIN_CLIENTS_PATH, status_code=303)
            found.cookies.set_admin_session(response, session)
            return response
    signed_out = query_params(request).get("signed_out") is not None
    response = form_page(
        request,
        "admin_sign_in.html",
        secret,
        SIGN_IN_PURPOSE,
        status,
        headers,
        error=error,
        username=username,
        signed_out=signed_out,
    )
    if fresh:
        found.cookies.set_browser_secret(response, secret)
    return response


async def sign_out(request: Request) -> Response:
    found = services(request)
    found.admin.require_pages()
    session = await found.admin.session(request)
    try:
        form = await read_form(request, found.settings.max_body_bytes)
        check_csrf(session, FORM_PURPOSE, form.get("csrf_token"))
    except OAuthError as error:
        return error_page(error)
    await found.admin.sign_out(session)
    response = RedirectResponse(ADMIN_SIGN_IN_PATH + "?signed_out=1", status_code=303)
    found.cookies.clear_admin_session(response)
    return response


@console_page
async def home(request: Request, found: Services, session: str | None) -> Response:
    return RedirectResponse(ADMIN_CLIENTS_PATH, status_code=303)
