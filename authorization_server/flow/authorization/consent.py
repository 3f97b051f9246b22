"""Asking the resource owner for consent: ``GET|POST /interaction/{interaction_id}/consent``.

The page names the client, the host its answer goes to, the MCP server and the scopes (MCP
Security Considerations); Allow issues the code, Deny sends ``access_denied`` (OAuth 2.1 §4.1.2).
"""

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_authz.authorization_server.errors import InvalidRequest, OAuthError
from mcp_authz.authorization_server.flow.authorization.interactions import SignInRequired
from mcp_authz.authorization_server.routes import LOGIN_PATH
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.browser import check_csrf
from mcp_authz.authorization_server.web.pages import error_page, form_page
from mcp_authz.authorization_server.web.params import read_form
from mcp_authz.authorization_server.web.redirects import next_step


async def consent(request: Request) -> Response:
    found = services(request)
    interaction_id = request.path_params["interaction_id"]
    browser_secret = found.cookies.browser_secret(request)
    try:
        view = await found.interactions.consent_view(interaction_id, browser_secret)
    except SignInRequired:
        return RedirectResponse(LOGIN_PATH.format(interaction_id=interaction_id), status_code=303)
    except OAuthError as error:
        return error_page(error)
    if request.method == "GET":
        return form_page(request, "consent.html", browser_secret, interaction_id, view=view)
    try:
        form = await read_form(request, found.settings.max_body_bytes)
        check_csrf(browser_secret, interaction_id, form.get("csrf_token"))
        decision = form.get("decision")
        if decision not in ("allow", "deny"):
            raise InvalidRequest("Choose Allow or Deny.")
        outcome = await found.interactions.consent(interaction_id, browser_secret, approved=decision == "allow")
    except OAuthError as error:
        return error_page(error)
    return next_step(outcome)
