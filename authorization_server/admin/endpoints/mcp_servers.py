"""The console's MCP servers pages (issue 17).

- ``GET|POST /admin/mcp-servers``: the MCP servers; add one (RFC 8707 resource, scopes, default
  scopes), give one new introspection credentials (RFC 7662 §2.1), shown on the answer once.
- ``GET|POST /admin/mcp-servers/view?id=``: one MCP server and its MCP connections; edit its name, resource,
  scopes, their descriptions and default scopes (``mcp-servers update``); remove it, confirmed, refused
  while clients or journeys depend on it unless forced (``mcp-servers remove [--force]``); the enterprise
  identity providers whose ID-JAGs it accepts (SEP-990, ``mcp-servers idps|trust-idp|distrust-idp``).
"""

from dataclasses import fields
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_authz.authorization_server.admin.console.mcp_servers import ConnectionFields, McpServerConsole
from mcp_authz.authorization_server.admin.endpoints.shared import acting_page, confirmed, console_page, page, posted
from mcp_authz.authorization_server.errors import NotFound, OAuthError
from mcp_authz.authorization_server.routes import ADMIN_MCP_SERVER_PATH, ADMIN_MCP_SERVERS_PATH
from mcp_authz.authorization_server.services import Services
from mcp_authz.authorization_server.web.pages import error_page
from mcp_authz.authorization_server.web.params import Params, query_params


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
            form = await posted(request, found, session)
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
    return page(
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
            confirmed(form, "the MCP server's removal")
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
        return page(
            request,
            session,
            "admin_mcp_server.html",
            view=view,
            descriptions="\n".join(f"{scope}={text}" for scope, text in view.server.scope_descriptions),
            done=SERVER_DONE.get(query_params(request).get("done") or ""),
            servers_path=ADMIN_MCP_SERVERS_PATH,
        )

    return await acting_page(request, found, session, act, show)


async def _act_on_connection(console: McpServerConsole, server_id: str, action: str, form: Params) -> None:
    if action == "remove-connection":
        await console.remove_connection(server_id, form.require("connection_id"))
        return
    typed = {name: form.get(name) or "" for name in CONNECTION_FIELDS}
    await console.add_connection(server_id, ConnectionFields(**typed))
