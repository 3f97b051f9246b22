"""The console's clients pages (issue 17).

- ``GET /admin/clients`` (filters: kind, blocked, last used); ``POST /admin/clients``: add a confidential client
  (``clients add``, RFC 7591 §1 pre-registration), a machine client approved for MCP servers, its secret shown
  on the answer once; ``GET /admin/clients/view?client_id=``
  (the registered metadata, RFC 7591 §3.2.1, and the client_credentials approvals), ``POST
  /admin/clients/view?client_id=``: block, unblock, delete, approve, withdraw, and as an enterprise IdP allow or
  withdraw ID-JAGs for another authorization server (SEP-990, ``clients allow-id-jag|withdraw-id-jag``).
"""

from dataclasses import fields
from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.admin.console.clients import ClientFilter, ClientKind, NewClientFields
from mcp_authz.authorization_server.admin.endpoints.shared import (
    acting_page,
    console_page,
    only,
    page,
    posted,
    run_action,
)
from mcp_authz.authorization_server.errors import OAuthError
from mcp_authz.authorization_server.flow.registration.operator import AUTH_METHODS as CLIENT_AUTH_METHODS
from mcp_authz.authorization_server.routes import ADMIN_CLIENT_PATH, ADMIN_CLIENTS_PATH
from mcp_authz.authorization_server.services import Services
from mcp_authz.authorization_server.web.pages import error_page
from mcp_authz.authorization_server.web.params import Params, query_params

#: The "last used" filter: its value in the query, its label, and the bounds it sets.
LAST_USED = {
    "day": ("in the last 24 hours", timedelta(days=1), None),
    "week": ("in the last 7 days", timedelta(days=7), None),
    "idle-30": ("not for 30 days or more", None, timedelta(days=30)),
}
#: What a POST did, shown on the page it leads to.
DONE = {
    "blocked": "Blocked: the client is refused everywhere and its grants ended.",
    "unblocked": "Unblocked: the client may be used again; its ended grants stay ended.",
    "deleted": "Deleted: the client's grants ended and its registration is gone.",
    "approved": "Approved for client_credentials.",
    "withdrawn": "Approval withdrawn; its machine grant ended.",
    "id-jag-allowed": "Allowed: the client may get ID-JAGs for that authorization server.",
    "id-jag-withdrawn": "Withdrawn: no more ID-JAGs for that authorization server; those issued expire within minutes.",
}


#: The "add a client" form's text fields, named as ``NewClientFields``' attributes.
NEW_CLIENT_FIELDS = tuple(field.name for field in fields(NewClientFields) if field.type is str)


@console_page
async def clients(request: Request, found: Services, session: str | None) -> Response:
    """The clients (``clients list``), filtered; add one (``clients add``): answered with the page itself, not a
    redirect, since the new secret is shown there once and never stored."""
    added = None
    if request.method == "POST":
        try:
            form = await posted(request, found, session)
            only(form, "add")
            typed = {name: value for name in NEW_CLIENT_FIELDS if (value := form.get(name)) is not None}
            added = await found.console.add(NewClientFields(**typed, grants=tuple(form.get_all("grant"))))
        except OAuthError as error:
            return error_page(error)
    query = query_params(request)
    kind_text, blocked_text, used_text = query.get("kind") or "", query.get("blocked") or "", query.get("used") or ""
    kinds = {kind.value: kind for kind in ClientKind}
    kind = kinds.get(kind_text)
    used_since = used_before = None
    if used_text in LAST_USED:
        _, since, before = LAST_USED[used_text]
        used_since = clock.now() - since if since else None
        used_before = clock.now() - before if before else None
    wanted = ClientFilter(
        kind=kind,
        blocked={"yes": True, "no": False}.get(blocked_text),
        used_since=used_since,
        used_before=used_before,
    )
    lines = await found.console.list(wanted)
    return page(
        request,
        session,
        "admin_clients.html",
        lines=lines,
        kinds=[kind.value for kind in ClientKind],
        last_used={value: label for value, (label, _, _) in LAST_USED.items()},
        chosen={"kind": kind_text, "blocked": blocked_text, "used": used_text},
        done=DONE.get(query.get("done") or ""),
        client_path=ADMIN_CLIENT_PATH,
        added=added,
        auth_methods=CLIENT_AUTH_METHODS,
        servers=await found.mcp_server_console.list() if session is not None else [],
    )


@console_page
async def client(request: Request, found: Services, session: str | None) -> Response:
    client_id = query_params(request).get("client_id") or ""

    async def act(form: Params) -> str:
        done = await _act(found, client_id, form.require("action"), form)
        if done == "deleted":
            return f"{ADMIN_CLIENTS_PATH}?done=deleted"
        return f"{ADMIN_CLIENT_PATH}?{urlencode({'client_id': client_id, 'done': done})}"

    async def show() -> Response:
        view = await found.console.view(client_id)
        shown = DONE.get(query_params(request).get("done") or "")
        return page(request, session, "admin_client.html", view=view, done=shown, clients_path=ADMIN_CLIENTS_PATH)

    return await acting_page(request, found, session, act, show)


async def _act(found: Services, client_id: str, action: str, form: Params) -> str:
    """Run one of the console's actions on a client; the key of what it did (``DONE``)."""
    console = found.console
    mcp_server_id, scope = form.get("mcp_server_id"), form.get("scope")
    return await run_action(
        action,
        {
            "block": ("blocked", lambda: console.block(client_id)),
            "unblock": ("unblocked", lambda: console.unblock(client_id)),
            "delete": ("deleted", lambda: console.delete(client_id)),
            "approve": ("approved", lambda: console.approve(client_id, mcp_server_id or "", scope or "")),
            "withdraw": ("withdrawn", lambda: console.withdraw(client_id, mcp_server_id or "")),
            "allow-id-jag": (
                "id-jag-allowed",
                lambda: console.allow_id_jag(client_id, form.require("audience"), form.require("audience_client_id")),
            ),
            "withdraw-id-jag": (
                "id-jag-withdrawn",
                lambda: console.withdraw_id_jag(client_id, form.require("audience")),
            ),
        },
    )
