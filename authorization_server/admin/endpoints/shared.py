"""What the console's pages share: the way in (``console_page``: the session, else HTTP Basic), a page with
its forms' CSRF token, a form's fields once that token is checked, a page's actions run by name.
"""

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_authz.authorization_server.errors import InvalidRequest, NotFound, OAuthError
from mcp_authz.authorization_server.routes import ADMIN_SIGN_IN_PATH, ADMIN_SIGN_OUT_PATH
from mcp_authz.authorization_server.services import Services, services
from mcp_authz.authorization_server.web.browser import check_csrf
from mcp_authz.authorization_server.web.pages import error_page, form_page
from mcp_authz.authorization_server.web.params import Params, read_form

#: What the console's forms prove with their CSRF token, keyed by the admin session cookie.
FORM_PURPOSE = "admin/console"
#: A console page's handler: the request, the services, the session's cookie value (``None`` under HTTP Basic).
Handler = Callable[[Request, Services, str | None], Awaitable[Response]]


def console_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Let the admin in: by the console's session, else by HTTP Basic; a browser without either signs in first.

    The handler gets the session's cookie value (``None`` when the admin came by HTTP Basic).
    """

    async def endpoint(request: Request) -> Response:
        found = services(request)
        guard = found.admin
        guard.require_pages()
        session = await guard.session(request)
        if session is None:
            if request.method == "GET" and "authorization" not in request.headers and _browser(request):
                return RedirectResponse(ADMIN_SIGN_IN_PATH, status_code=303)
            await guard.require_admin(request)
        return await handler(request, found, session)

    return endpoint


def _browser(request: Request) -> bool:
    """A person's browser navigating, as opposed to a script: it asks for HTML."""
    return "text/html" in request.headers.get("accept", "")


def page(request: Request, session: str | None, template: str, **context: Any) -> Response:
    """A console page with its forms' CSRF token and the sign-out button (when signed in with the form)."""
    return form_page(
        request, template, session, FORM_PURPOSE, signed_in=session is not None, sign_out=ADMIN_SIGN_OUT_PATH, **context
    )


async def posted(request: Request, found: Services, session: str | None) -> Params:
    """A console form's fields, once its CSRF token proves the admin's session sent it (OAuth 2.1 §7.10)."""
    form = await read_form(request, found.settings.max_body_bytes)
    check_csrf(session, FORM_PURPOSE, form.get("csrf_token"))
    return form


async def acting_page(
    request: Request,
    found: Services,
    session: str | None,
    act: Callable[[Params], Awaitable[str]],
    show: Callable[[], Awaitable[Response]],
) -> Response:
    """A console page with forms: a POST runs ``act`` on its CSRF-checked fields and goes to the page it names
    (303), a GET is ``show``; a refusal either way is a readable error page, never a 500."""
    try:
        if request.method == "POST":
            return RedirectResponse(await act(await posted(request, found, session)), status_code=303)
        return await show()
    except OAuthError as error:
        return error_page(error)


#: A page's actions by name: the key of what each did (its ``DONE`` message) and what runs it.
Actions = dict[str, tuple[str, Callable[[], Awaitable[object]]]]


async def run_action(action: str, actions: Actions) -> str:
    """Run the action named ``action``; the key of what it did. A name the page has not is no such action (404)."""
    if action not in actions:
        raise NotFound(f"no such action: {action!r}")
    done, run = actions[action]
    await run()
    return done


def only(form: Params, action: str) -> None:
    """The one action a page's form has; another is no such action (404)."""
    if form.require("action") != action:
        raise NotFound(f"no such action: {form.get('action')!r}")


def confirmed(form: Params, what: str) -> None:
    """A destructive action's confirmation box, checked here too: a form posted without it changes nothing."""
    if form.get("confirm") != "yes":
        raise InvalidRequest(f"tick the box to confirm {what}")


async def add_or_remove(
    form: Params, path: str, *, add: Callable[[], Awaitable[str]], remove: Callable[[str], Awaitable[None]]
) -> str:
    """A list page's two actions: ``remove`` the one the form names, once confirmed, or ``add`` one (its name).
    Where the answer goes: the list, saying what was done."""
    action = form.require("action")
    if action == "remove":
        name = form.require("name")
        confirmed(form, f"the removal of {name}")
        await remove(name)
        return f"{path}?{urlencode({'removed': name})}"
    if action != "add":
        raise NotFound(f"no such action: {action!r}")
    return f"{path}?{urlencode({'added': await add()})}"
