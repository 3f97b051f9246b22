"""The person's pages: the home page ``GET /``, the connected apps ``GET|POST /account/apps`` (MCP-SBP
Confused Deputy, per-client consent) and signing out ``POST /account/sign-out`` (issue 17).

Revoke asks first: ``GET /account/apps/revoke`` names the app and offers the POST that revokes, so
no script is needed and no GET changes anything; after it the list says "revoked" (issue 17).
The home page says what this server is, its issuers and their metadata (RFC 8414 §3), and whether
this browser is signed in, with the way to the connected apps and to signing out. The apps page
lists, on GET, the clients the session's user approved; without a session it says how to sign in.
Its POST revokes one of them, then shows the list again with a 303 (OAuth 2.1 §1.6: never 307).
Signing out ends the session and clears its cookie, then shows the signed-out page. Every form's
CSRF token is keyed by the session cookie (``web/browser.py``, OAuth 2.1 §7.10). Never CORS: pages,
not APIs.
"""

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_authz.authorization_server.account.connected_apps import FORM_PURPOSE
from mcp_authz.authorization_server.account.home import SIGN_OUT_PURPOSE
from mcp_authz.authorization_server.errors import OAuthError
from mcp_authz.authorization_server.routes import ACCOUNT_APPS_PATH, ACCOUNT_APPS_REVOKE_PATH, SIGN_OUT_PATH
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.browser import check_csrf, csrf_token
from mcp_authz.authorization_server.web.pages import error_page, page
from mcp_authz.authorization_server.web.params import query_params, read_form

PATH = ACCOUNT_APPS_PATH
REVOKE_PATH = ACCOUNT_APPS_REVOKE_PATH


async def home(request: Request) -> Response:
    found = services(request)
    session = found.cookies.session(request)
    view = await found.home.home(session)
    return page("home.html", view=view, sign_out=_sign_out_form(session if view.username else None))


async def apps(request: Request) -> Response:
    found = services(request)
    session = found.cookies.session(request)
    if request.method == "GET":
        listed = await found.connected_apps.apps(session)
        if listed is None:
            return page("signed_out.html")
        revoked = request.query_params.get("revoked") == "1"  # after Revoke's 303: say it happened
        return page("apps.html", view=listed, revoked=revoked, confirm=REVOKE_PATH, sign_out=_sign_out_form(session))
    try:
        form = await read_form(request, found.settings.max_body_bytes)
        check_csrf(session, FORM_PURPOSE, form.get("csrf_token"))
        await found.connected_apps.revoke(session, form.require("client_id"), form.require("mcp_server_id"))
    except OAuthError as error:
        return error_page(error)
    return RedirectResponse(f"{PATH}?revoked=1", status_code=303)


async def confirm_revoke(request: Request) -> Response:
    """Revoke's second step (issue 17): name the app, what it loses, and ask again; a form, no script.

    A GET changes nothing: the POST it offers, with the CSRF token, is what revokes.
    """
    found = services(request)
    session = found.cookies.session(request)
    try:
        query = query_params(request)
        client_id, mcp_server_id = query.require("client_id"), query.require("mcp_server_id")
        chosen = await found.connected_apps.approval(session, client_id, mcp_server_id)
    except OAuthError as error:
        return error_page(error)
    if chosen is None:
        return page("signed_out.html")
    token = csrf_token(session or "", FORM_PURPOSE)
    return page("revoke.html", view=chosen, app=chosen.apps[0], action=PATH, csrf_token=token)


async def sign_out(request: Request) -> Response:
    """End this browser's session (``accounts/``) and drop its cookie; a browser without one has nothing to end."""
    found = services(request)
    session = found.cookies.session(request)
    try:
        form = await read_form(request, found.settings.max_body_bytes)
        if session is not None:
            check_csrf(session, SIGN_OUT_PURPOSE, form.get("csrf_token"))
            await found.home.sign_out(session)
    except OAuthError as error:
        return error_page(error)
    response = page("signed_out.html", signed_out=True)
    found.cookies.clear_session(response)
    return response


def _sign_out_form(session: str | None) -> dict[str, str] | None:
    """The sign-out button's form for a signed-in browser: where it posts, and its CSRF token."""
    if session is None:
        return None
    return {"action": SIGN_OUT_PATH, "csrf_token": csrf_token(session, SIGN_OUT_PURPOSE)}
