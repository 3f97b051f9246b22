"""The operator's console at ``/admin`` (issues 4 and 17): its sign-in, clients, MCP servers, users, keys, journeys.

- ``GET|POST /admin/sign-in``: the admin's username and password (settings) give a session cookie;
  failures are counted per address and lock it out as HTTP Basic's do (``admin/auth.py``, issue 11
  item 10). The form's CSRF token is keyed by the browser cookie (OAuth 2.1 §7.10, login CSRF).
- ``POST /admin/sign-out``: the session ends, its cookie goes.
- ``GET /admin/clients`` (filters: kind, blocked, last used); ``POST /admin/clients``: add a confidential client
  (``clients add``, RFC 7591 §1 pre-registration), a machine client approved for MCP servers, its secret shown
  on the answer once; ``GET /admin/clients/view?client_id=``
  (the registered metadata, RFC 7591 §3.2.1, and the client_credentials approvals), ``POST
  /admin/clients/view?client_id=``: block, unblock, delete, approve, withdraw, and as an enterprise IdP allow or
  withdraw ID-JAGs for another authorization server (SEP-990, ``clients allow-id-jag|withdraw-id-jag``).
- ``GET|POST /admin/mcp-servers``: the MCP servers; add one (RFC 8707 resource, scopes, default
  scopes), give one new introspection credentials (RFC 7662 §2.1), shown on the answer once.
- ``GET|POST /admin/mcp-servers/view?id=``: one MCP server and its MCP connections; edit its name, resource,
  scopes, their descriptions and default scopes (``mcp-servers update``); remove it, confirmed, refused
  while clients or journeys depend on it unless forced (``mcp-servers remove [--force]``); the enterprise
  identity providers whose ID-JAGs it accepts (SEP-990, ``mcp-servers idps|trust-idp|distrust-idp``).
- ``GET|POST /admin/users``: the users (source, state, created); add one (``users add``).
- ``GET|POST /admin/users/view?username=``: one user and their connected apps; disable, enable, reset the
  password, remove (confirmed), revoke an app (its grants end as RFC 7009 §2 revocation ends them).
- ``GET|POST /admin/keys``: the signing keys (RFC 7517) and when each retires; rotate (``keys rotate``).
  No early retirement: a key leaves the JWK Set once every token it signed has expired (docs/decisions/0042).
- ``GET|POST /admin/identity-providers``: the OpenID providers people sign in with (issue 16): each with its
  rules, redirect URI and how many users sign in through it; add one, checked by discovery through the
  SSRF-safe fetcher first (``identity-providers add``); remove one, confirmed, refused while users sign in
  through it (``identity-providers remove``).
- ``GET|POST /admin/workload-issuers``: the issuers of workload JWTs trusted at the jwt-bearer grant and their
  rules (SEP-1933, docs/decisions/0051); trust one (``workload-issuers add``: each rule's MCP server and scopes
  checked by ``WorkloadIssuerService``), remove one, confirmed (``workload-issuers remove``).
- ``GET /admin/journeys`` and ``GET /admin/journeys/{journey_id}``: the journeys, newest first, 50 a
  page, filtered by client, user, MCP server, outcome and start date; one as a sequence diagram drawn
  on the server (SVG, no JavaScript).

Every page needs the console's session or, for scripts, the admin's HTTP Basic credentials
(RFC 7617); a browser bringing neither is sent to the sign-in page. Every POST needs the session
and the CSRF token keyed by it: Basic credentials, which a browser sends on its own, never change
anything. Never CORS, never framed (``web/pages.py``); a POST answers with a 303 (OAuth 2.1 §1.6).
"""

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.accounts.service import MIN_PASSWORD_LENGTH
from mcp_authz.authorization_server.admin.auth import AdminSignInFailed
from mcp_authz.authorization_server.admin.console import (
    ClientFilter,
    ClientKind,
    ConnectionFields,
    McpServerConsole,
    NewClientFields,
    ProviderFields,
    UserConsole,
    WorkloadIssuerFields,
)
from mcp_authz.authorization_server.admin.sequence_diagrams import layout
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound, OAuthError, TooManyRequests
from mcp_authz.authorization_server.flow.registration.operator import AUTH_METHODS as CLIENT_AUTH_METHODS
from mcp_authz.authorization_server.identity_providers.entities import AUTH_METHODS
from mcp_authz.authorization_server.journeys.entities import JourneySearch, JourneyStatus
from mcp_authz.authorization_server.routes import (
    ADMIN_CLIENT_PATH,
    ADMIN_CLIENTS_PATH,
    ADMIN_IDENTITY_PROVIDERS_PATH,
    ADMIN_JOURNEYS_PATH,
    ADMIN_KEYS_PATH,
    ADMIN_MCP_SERVER_PATH,
    ADMIN_MCP_SERVERS_PATH,
    ADMIN_SIGN_IN_PATH,
    ADMIN_SIGN_OUT_PATH,
    ADMIN_USER_PATH,
    ADMIN_USERS_PATH,
    ADMIN_WORKLOAD_ISSUERS_PATH,
)
from mcp_authz.authorization_server.services import Services, services
from mcp_authz.authorization_server.web.browser import check_csrf
from mcp_authz.authorization_server.web.pages import error_page, form_page
from mcp_authz.authorization_server.web.params import Params, query_params, read_form

#: How many journeys the list shows, newest first.
LIST_LIMIT = 50
#: What the console's forms prove with their CSRF token, keyed by the admin session cookie.
FORM_PURPOSE = "admin/console"
#: What the sign-in form proves, keyed by the browser cookie.
SIGN_IN_PURPOSE = "admin/sign-in"

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


def _page(request: Request, session: str | None, template: str, **context: Any) -> Response:
    """A console page with its forms' CSRF token and the sign-out button (when signed in with the form)."""
    return form_page(
        request, template, session, FORM_PURPOSE, signed_in=session is not None, sign_out=ADMIN_SIGN_OUT_PATH, **context
    )


async def _posted(request: Request, found: Services, session: str | None) -> Params:
    """A console form's fields, once its CSRF token proves the admin's session sent it (OAuth 2.1 §7.10)."""
    form = await read_form(request, found.settings.max_body_bytes)
    check_csrf(session, FORM_PURPOSE, form.get("csrf_token"))
    return form


async def _acting_page(
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
            return RedirectResponse(await act(await _posted(request, found, session)), status_code=303)
        return await show()
    except OAuthError as error:
        return error_page(error)


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


#: The "add a client" form's text fields, named as ``NewClientFields``' attributes.
NEW_CLIENT_FIELDS = tuple(field.name for field in fields(NewClientFields) if field.type is str)


@console_page
async def clients(request: Request, found: Services, session: str | None) -> Response:
    """The clients (``clients list``), filtered; add one (``clients add``): answered with the page itself, not a
    redirect, since the new secret is shown there once and never stored."""
    added = None
    if request.method == "POST":
        try:
            form = await _posted(request, found, session)
            _only(form, "add")
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
    return _page(
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
        return _page(request, session, "admin_client.html", view=view, done=shown, clients_path=ADMIN_CLIENTS_PATH)

    return await _acting_page(request, found, session, act, show)


async def _act(found: Services, client_id: str, action: str, form: Params) -> str:
    """Run one of the console's actions on a client; the key of what it did (``DONE``)."""
    console = found.console
    mcp_server_id, scope = form.get("mcp_server_id"), form.get("scope")
    return await _run_action(
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


#: A page's actions by name: the key of what each did (its ``DONE`` message) and what runs it.
Actions = dict[str, tuple[str, Callable[[], Awaitable[object]]]]


async def _run_action(action: str, actions: Actions) -> str:
    """Run the action named ``action``; the key of what it did. A name the page has not is no such action (404)."""
    if action not in actions:
        raise NotFound(f"no such action: {action!r}")
    done, run = actions[action]
    await run()
    return done


def _server_fields(form: Params) -> dict[str, str]:
    """The MCP server form's fields (``mcp-servers add|update``' options): resource and scopes required, the rest
    empty when left out."""
    return {
        "name": form.get("name") or "",
        "resource": form.require("resource"),
        "scopes": form.require("scopes"),
        "default_scopes": form.get("default_scopes") or "",
        "descriptions": form.get("descriptions") or "",
    }


@console_page
async def mcp_servers(request: Request, found: Services, session: str | None) -> Response:
    console = found.mcp_server_console
    credentials, done = None, None
    if request.method == "POST":
        try:
            form = await _posted(request, found, session)
            action = form.require("action")
            if action == "add":
                version = form.get("version") or "latest"
                added = await console.add(server_id=form.require("id"), version=version, **_server_fields(form))
                return RedirectResponse(f"{ADMIN_MCP_SERVERS_PATH}?{urlencode({'added': added.id})}", 303)
            if action != "credentials":
                raise NotFound(f"no such action: {action!r}")
            # Answered with the page itself, not a redirect: the secret is shown here once, never stored.
            credentials = await console.rotate_credentials(form.require("mcp_server_id"))
        except OAuthError as error:
            return error_page(error)
    query = query_params(request)
    added_id, removed_id = query.get("added"), query.get("removed")
    if added_id:
        done = f"Added MCP server {added_id}. Give it introspection credentials if it checks tokens that way."
    elif removed_id:
        done = (
            f"Removed MCP server {removed_id}: {query.get('ended') or 0} grant(s) ended,"
            f" {query.get('clients') or 0} client(s) registered at its issuer deleted."
        )
    servers = await console.list()
    return _page(
        request,
        session,
        "admin_mcp_servers.html",
        servers=[(server, console.issuer_of(server)) for server in servers],
        server_path=ADMIN_MCP_SERVER_PATH,
        credentials=credentials,
        done=done,
    )


#: What a POST on one MCP server's page did, shown on the page it leads to.
SERVER_DONE = {
    "update": "Saved. Tokens issued before keep the audience they were issued for.",
    "add-connection": "Connection added. Set its client secret's variable in the server's environment, if it has one.",
    "remove-connection": "Connection removed, with its downstream flows.",
    "trust-idp": "Trusted: its ID-JAGs from the clients named get tokens for this server.",
    "distrust-idp": "No longer trusted: its ID-JAGs are refused; tokens issued live until they expire.",
}
#: The MCP server page's actions on its connections (``connections add|remove``).
CONNECTION_ACTIONS = ("add-connection", "remove-connection")
#: The new connection form's fields, named as ``ConnectionFields``' attributes.
CONNECTION_FIELDS = tuple(field.name for field in fields(ConnectionFields))


@console_page
async def mcp_server(request: Request, found: Services, session: str | None) -> Response:
    """One MCP server: edit it (``mcp-servers update``), remove it (``mcp-servers remove [--force]``), its
    MCP connections (``connections list|add|remove``)."""
    console = found.mcp_server_console
    server_id = query_params(request).get("id") or ""

    async def act(form: Params) -> str:
        action = form.require("action")
        if action == "remove":
            _confirmed(form, "the MCP server's removal")
            removed = await console.remove(server_id, force=form.get("force") == "yes")
            gone = {"removed": server_id, "ended": removed.ended_grants, "clients": len(removed.deleted_clients)}
            return f"{ADMIN_MCP_SERVERS_PATH}?{urlencode(gone)}"
        if action == "update":
            await console.update(server_id, **_server_fields(form))
        elif action in CONNECTION_ACTIONS:
            await _act_on_connection(console, server_id, action, form)
        elif action == "trust-idp":
            typed = {name: form.get(name) or "" for name in ("jwks_uri", "jwks", "client_ids")}
            await console.trust_identity_provider(server_id, issuer=form.require("issuer"), **typed)
        elif action == "distrust-idp":
            await console.distrust_identity_provider(server_id, form.require("issuer"))
        else:
            raise NotFound(f"no such action: {action!r}")
        return f"{ADMIN_MCP_SERVER_PATH}?{urlencode({'id': server_id, 'done': action})}"

    async def show() -> Response:
        view = await console.view(server_id)
        return _page(
            request,
            session,
            "admin_mcp_server.html",
            view=view,
            descriptions="\n".join(f"{scope}={text}" for scope, text in view.server.scope_descriptions),
            done=SERVER_DONE.get(query_params(request).get("done") or ""),
            servers_path=ADMIN_MCP_SERVERS_PATH,
        )

    return await _acting_page(request, found, session, act, show)


async def _act_on_connection(console: McpServerConsole, server_id: str, action: str, form: Params) -> None:
    if action == "remove-connection":
        await console.remove_connection(server_id, form.require("connection_id"))
        return
    typed = {name: form.get(name) or "" for name in CONNECTION_FIELDS}
    await console.add_connection(server_id, ConnectionFields(**typed))


def _only(form: Params, action: str) -> None:
    """The one action a page's form has; another is no such action (404)."""
    if form.require("action") != action:
        raise NotFound(f"no such action: {form.get('action')!r}")


def _confirmed(form: Params, what: str) -> None:
    """A destructive action's confirmation box, checked here too: a form posted without it changes nothing."""
    if form.get("confirm") != "yes":
        raise InvalidRequest(f"tick the box to confirm {what}")


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
        _only(form, "add")
        added = await found.user_console.add(form.require("username"), form.require("password"))
        return f"{ADMIN_USER_PATH}?{urlencode({'username': added.username, 'done': 'added'})}"

    async def show() -> Response:
        query = query_params(request)
        removed = query.get("removed")
        return _page(
            request,
            session,
            "admin_users.html",
            users=await found.user_console.list(),
            done=f"Removed user {removed}; {query.get('ended') or 0} grant(s) they gave ended." if removed else None,
            user_path=ADMIN_USER_PATH,
            min_password=MIN_PASSWORD_LENGTH,
        )

    return await _acting_page(request, found, session, add, show)


@console_page
async def user(request: Request, found: Services, session: str | None) -> Response:
    """One user: disable, enable, reset the password, remove (confirmed); their connected apps, each revocable."""
    console = found.user_console
    username = query_params(request).get("username") or ""

    async def act(form: Params) -> str:
        action = form.require("action")
        if action == "remove":
            _confirmed(form, "the user's removal")
            ended = await console.remove(username)
            return f"{ADMIN_USERS_PATH}?{urlencode({'removed': username, 'ended': ended})}"
        did = await _act_on_user(console, username, action, form)
        return f"{ADMIN_USER_PATH}?{urlencode({'username': username, 'done': did})}"

    async def show() -> Response:
        line, apps = await console.view(username)
        return _page(
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

    return await _acting_page(request, found, session, act, show)


async def _act_on_user(console: UserConsole, username: str, action: str, form: Params) -> str:
    """Run one of the console's actions on a user; the key of what it did (``USER_DONE``)."""
    if action == "revoke":
        _confirmed(form, "the app's revocation")
    return await _run_action(
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


@console_page
async def keys(request: Request, found: Services, session: str | None) -> Response:
    async def rotate(form: Params) -> str:
        _only(form, "rotate")
        return f"{ADMIN_KEYS_PATH}?{urlencode({'rotated': await found.key_console.rotate()})}"

    async def show() -> Response:
        rotated = query_params(request).get("rotated")
        done = f"New signing key {rotated} is current; the previous one stays published." if rotated else None
        keep_for = found.settings.key_lifetime_after_rotation
        keys = await found.key_console.list()
        return _page(request, session, "admin_keys.html", keys=keys, done=done, keep_for=keep_for)

    return await _acting_page(request, found, session, rotate, show)


async def _add_or_remove(
    form: Params, path: str, *, add: Callable[[], Awaitable[str]], remove: Callable[[str], Awaitable[None]]
) -> str:
    """A list page's two actions: ``remove`` the one the form names, once confirmed, or ``add`` one (its name).
    Where the answer goes: the list, saying what was done."""
    action = form.require("action")
    if action == "remove":
        name = form.require("name")
        _confirmed(form, f"the removal of {name}")
        await remove(name)
        return f"{path}?{urlencode({'removed': name})}"
    if action != "add":
        raise NotFound(f"no such action: {action!r}")
    return f"{path}?{urlencode({'added': await add()})}"


#: The "add an identity provider" form's text fields, named as ``ProviderFields``' attributes.
PROVIDER_FIELDS = tuple(field.name for field in fields(ProviderFields) if field.type is str)


@console_page
async def identity_providers(request: Request, found: Services, session: str | None) -> Response:
    """The identity providers (``identity-providers list``); add one (``add``, checked by discovery), remove one
    (``remove``, confirmed, refused while users sign in through it)."""
    console = found.identity_provider_console

    async def act(form: Params) -> str:
        async def add() -> str:
            # A field left out takes the command line's default (client_secret_basic, "openid email profile").
            typed = {name: value for name in PROVIDER_FIELDS if (value := form.get(name)) is not None}
            wanted = ProviderFields(**typed, allow_private_network=form.get("allow_private_network") == "yes")
            return (await console.add(wanted)).name

        return await _add_or_remove(form, ADMIN_IDENTITY_PROVIDERS_PATH, add=add, remove=console.remove)

    async def show() -> Response:
        query = query_params(request)
        added_name, removed = query.get("added"), query.get("removed")
        added = await console.added(added_name) if added_name else None
        return _page(
            request,
            session,
            "admin_identity_providers.html",
            providers=await console.list(),
            added=added,
            done=f"Removed identity provider {removed}." if removed else None,
            defaults=ProviderFields(),
            auth_methods=AUTH_METHODS,
        )

    return await _acting_page(request, found, session, act, show)


#: The "trust a workload issuer" form's fields, named as ``WorkloadIssuerFields``' attributes.
WORKLOAD_ISSUER_FIELDS = tuple(field.name for field in fields(WorkloadIssuerFields))


@console_page
async def workload_issuers(request: Request, found: Services, session: str | None) -> Response:
    """The trusted workload issuers and their rules (``workload-issuers list``); trust one (``add``), remove one
    (``remove``, confirmed): its workloads' JWTs are refused from then on (SEP-1933, docs/decisions/0051)."""
    console = found.workload_issuer_console

    async def act(form: Params) -> str:
        async def add() -> str:
            typed = {name: form.get(name) or "" for name in WORKLOAD_ISSUER_FIELDS}
            return (await console.add(WorkloadIssuerFields(**typed))).name

        return await _add_or_remove(form, ADMIN_WORKLOAD_ISSUERS_PATH, add=add, remove=console.remove)

    async def show() -> Response:
        query = query_params(request)
        added, removed = query.get("added"), query.get("removed")
        done = None
        if added:
            done = f"Trusted workload issuer {added}: its workloads' JWTs get tokens under its rules."
        elif removed:
            done = f"Removed workload issuer {removed}; tokens issued to its workloads live until they expire."
        return _page(request, session, "admin_workload_issuers.html", issuers=await console.list(), done=done)

    return await _acting_page(request, found, session, act, show)


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
    return _page(
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
    return _page(
        request,
        session,
        "admin_journey.html",
        timeline=timeline,
        diagram=layout(timeline),
        journeys_path=ADMIN_JOURNEYS_PATH,
    )
