"""The authorization endpoint (OAuth 2.1 §4.1.1): ``GET /authorize`` and ``GET /mcp/{id}/authorize``.

Errors found before the client and its redirect URI are known are shown on a page and never
redirected (§4.1.2.1). Fetches of a client's metadata document are charged to the request's
address (``rate_limits.FetchLimit``). CORS is never enabled here: browsers come by navigation (RFC 9700 §2.6).
Requests are rate-limited per address, since each one writes a journey (issue 11, item 4); over
the limit the browser gets a 429 page with ``Retry-After``.
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
        found.limits.authorization(request)
        issuer = await found.issuers.resolve(request.path_params.get("mcp_server_id"))
        outcome = await found.interactions.authorize(
            issuer,
            query_params(request),
            browser_secret,
            found.cookies.session(request),
            user_started=user_started(request),
        )
    except OAuthError as error:
        return error_page(error)
    response = next_step(outcome)
    if new_browser:
        found.cookies.set_browser_secret(response, browser_secret)
    return response


#: ``Sec-Fetch-Site`` values of a navigation the user started: typed, bookmarked, opened by an
#: application (``none``), or a link on this server's own pages or site (W3C Fetch Metadata §2.1).
USER_STARTED_SITES = frozenset({"none", "same-origin", "same-site"})


def user_started(request: Request) -> bool:
    """Whether the browser says this request is a top-level navigation the user started (Fetch Metadata).

    A page elsewhere that links or redirects here is ``cross-site``; a request without the header
    (an older browser, or no browser) cannot be told apart from one. In both cases remembered
    consent is not enough: the consent page is shown (decision 0012).
    """
    return request.headers.get("sec-fetch-site") in USER_STARTED_SITES


def next_step(outcome: Onward) -> Response:
    """A 303 (OAuth 2.1 §1.6: never 307) to the next page, a downstream provider or the client; or an error page."""
    if isinstance(outcome, ToInteraction):
        return RedirectResponse(f"/interaction/{outcome.interaction_id}/{outcome.page}", status_code=303)
    if isinstance(outcome, ToProvider):
        return RedirectResponse(outcome.url, status_code=303)
    if not outcome.automatic and outcome.error is not None:
        return error_page(outcome.error, continue_url=outcome.url)
    return RedirectResponse(outcome.url, status_code=303)
