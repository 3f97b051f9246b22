"""The authorization endpoint (OAuth 2.1 §4.1.1): ``GET /authorize`` and ``GET /mcp/{id}/authorize``.

Errors found before the client and its redirect URI are known are shown on a page and never
redirected (§4.1.2.1). Fetches of a client's metadata document are charged to the request's
address (``rate_limits.FetchLimit``). CORS is never enabled here: browsers come by navigation (RFC 9700 §2.6).
Requests are rate-limited per address, since each one writes a journey (issue 11, item 4); over
the limit the browser gets a 429 page with ``Retry-After``.
"""

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.errors import OAuthError
from mcp_authz.authorization_server.secrets_at_rest import new_secret
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.pages import error_page
from mcp_authz.authorization_server.web.params import query_params
from mcp_authz.authorization_server.web.rate_limits import charge_fetches_to
from mcp_authz.authorization_server.web.redirects import next_step


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
