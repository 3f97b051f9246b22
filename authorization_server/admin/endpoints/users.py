"""The console's users pages (issue 17).

- ``GET|POST /admin/users``: the users (source, state, created); add one (``users add``).
- ``GET|POST /admin/users/view?username=``: one user and their connected apps; disable, enable, reset the
  password, remove (confirmed), revoke an app (its grants end as RFC 7009 §2 revocation ends them).
"""

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.accounts.service import MIN_PASSWORD_LENGTH
from mcp_authz.authorization_server.admin.console.users import UserConsole
from mcp_authz.authorization_server.admin.endpoints.shared import (
    acting_page,
    confirmed,
    console_page,
    only,
    page,
    run_action,
)
from mcp_authz.authorization_server.routes import ADMIN_USER_PATH, ADMIN_USERS_PATH
from mcp_authz.authorization_server.services import Services
from mcp_authz.authorization_server.web.params import Params, query_params

#: What a POST on the users' pages did, shown on the page it leads to.
USER_DONE = {
    "added": "Added. The user can sign in now.",
    "disabled": "Disabled: the user cannot sign in and their sessions ended; the grants they gave stand.",
    "enabled": "Enabled: the user can sign in again.",
    "password": "New password set; the user's sessions ended.",
    "revoked": "Revoked: the app's grants ended and it must ask the user again.",
}


@console_page
async def users(request: Request, found: Services, session: str | None) -> Response:
    """The users (``users list``): name, source, state, created; add one (``users add``)."""

    async def add(form: Params) -> str:
        only(form, "add")
        added = await found.user_console.add(form.require("username"), form.require("password"))
        return f"{ADMIN_USER_PATH}?{urlencode({'username': added.username, 'done': 'added'})}"

    async def show() -> Response:
        query = query_params(request)
        removed = query.get("removed")
        return page(
            request,
            session,
            "admin_users.html",
            users=await found.user_console.list(),
            done=f"Removed user {removed}; {query.get('ended') or 0} grant(s) they gave ended." if removed else None,
            user_path=ADMIN_USER_PATH,
            min_password=MIN_PASSWORD_LENGTH,
        )

    return await acting_page(request, found, session, add, show)


@console_page
async def user(request: Request, found: Services, session: str | None) -> Response:
    """One user: disable, enable, reset the password, remove (confirmed); their connected apps, each revocable."""
    console = found.user_console
    username = query_params(request).get("username") or ""

    async def act(form: Params) -> str:
        action = form.require("action")
        if action == "remove":
            confirmed(form, "the user's removal")
            ended = await console.remove(username)
            return f"{ADMIN_USERS_PATH}?{urlencode({'removed': username, 'ended': ended})}"
        did = await _act_on_user(console, username, action, form)
        return f"{ADMIN_USER_PATH}?{urlencode({'username': username, 'done': did})}"

    async def show() -> Response:
        line, apps = await console.view(username)
        return page(
            request,
            session,
            "admin_user.html",
            account=line.user,
            source=line.source,
            apps=apps.apps,
            done=USER_DONE.get(query_params(request).get("done") or ""),
            users_path=ADMIN_USERS_PATH,
            min_password=MIN_PASSWORD_LENGTH,
        )

    return await acting_page(request, found, session, act, show)


async def _act_on_user(console: UserConsole, username: str, action: str, form: Params) -> str:
    """Run one of the console's actions on a user; the key of what it did (``USER_DONE``)."""
    if action == "revoke":
        confirmed(form, "the app's revocation")
    return await run_action(
        action,
        {
            "disable": ("disabled", lambda: console.disable(username)),
            "enable": ("enabled", lambda: console.enable(username)),
            "reset-password": ("password", lambda: console.reset_password(username, form.require("password"))),
            "revoke": (
                "revoked",
                lambda: console.revoke(username, form.require("client_id"), form.require("mcp_server_id")),
            ),
        },
    )
