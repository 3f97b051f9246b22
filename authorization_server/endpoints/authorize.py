"""The authorization endpoint (OAuth 2.1 §4.1.1): ``GET /authorize`` and ``GET /mcp/{id}/authorize``.

Errors found before the client and its redirect URI are known are shown on a page and never
redirected (§4.1.2.1). Fetches of a client's metadata document are charged to the request's
address (``rate_limits.FetchLimit``). CORS is never enabled here: browsers come by navigation (RFC 9700 §2.6).
"""

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authorization_server.errors import OAuthError
from authorization_server.interactions import Onward
from authorization_server.pages import error_page
from authorization_server.params import query_params
from authorization_server.rate_limits import charge_fetches_to
from authorization_server.redirects import ToInteraction, ToProvider
from authorization_server.secrets_at_rest import new_secret
from authorization_server.services import services


async def authorize(request: Request) -> Response:
    found = services(request)
    browser_secret = found.cookies.browser_secret(request)
    new_browser = browser_secret is None
    browser_secret = browser_secret or new_secret()
    charge_fetches_to(request)
    try:
        issuer = await found.issuers.resolve(request.path_params.get("mcp_server_id"))
        outcome = await found.interactions.authorize(
            issuer, query_params(request), browser_secret, found.cookies.session(request)
        )
    except OAuthError as error:
        return error_page(error)
    response = next_step(outcome)
    if new_browser:
        found.cookies.set_browser_secret(response, browser_secret)
    return response


def next_step(outcome: Onward) -> Response:
    """A 303 (OAuth 2.1 §1.6: never 307) to the next page, a downstream provider or the client; or an error page."""
    if isinstance(outcome, ToInteraction):
        return RedirectResponse(f"/interaction/{outcome.interaction_id}/{outcome.page}", status_code=303)
    if isinstance(outcome, ToProvider):
        return RedirectResponse(outcome.url, status_code=303)
    if not outcome.automatic and outcome.error is not None:
        return error_page(outcome.error, continue_url=outcome.url)
    return RedirectResponse(outcome.url, status_code=303)
