"""Where the browser goes next after an authorization step, as values the endpoints turn into 303s.

OAuth 2.1 §4.1.2: back to the client with ``code``, ``state`` and ``iss`` (RFC 9207); §4.1.2.1:
errors the same way; or on to this server's next page, or to a downstream provider (issue 4).
"""

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from mcp_authz.authorization_server.errors import OAuthError
from mcp_authz.authorization_server.journeys.entities import Journey
from mcp_authz.authorization_server.routes import INTERACTION_PAGES
from mcp_authz.authorization_server.web.pages import error_page
from mcp_authz.shared.loopback import is_loopback_http


@dataclass(frozen=True)
class ToInteraction:
    """Show the sign-in or consent page of an interaction."""

    interaction_id: str
    page: Literal["login", "consent"]  # routes.INTERACTION_PAGES


@dataclass(frozen=True)
class ToClient:
    """Send the browser back to the client's redirect URI with the response parameters.

    ``automatic`` is false for an error bound for a redirect URI that is not loopback before the
    user approved anything: the user is shown the error and a link instead, so that an open
    registration cannot turn this server into an open redirector (OAuth 2.1 §7.12.2).
    """

    url: str
    automatic: bool = True
    error: OAuthError | None = None


@dataclass(frozen=True)
class ToProvider:
    """Send the browser to a downstream provider's authorization endpoint (issue 4)."""

    url: str


def code_to_client(journey: Journey, code: str) -> ToClient:
    assert journey.request is not None
    return ToClient(
        redirect_uri_with(journey.request.redirect_uri, code=code, state=journey.request.state, iss=journey.issuer)
    )


def error_to_client(
    redirect_uri: str, state: str | None, issuer: str, error: OAuthError, *, automatic: bool = True
) -> ToClient:
    """OAuth 2.1 §4.1.2.1 with RFC 9207 §2: ``error``, ``error_description``, ``state`` and ``iss``."""
    url = redirect_uri_with(
        redirect_uri, error=error.error, error_description=error.description, state=state, iss=issuer
    )
    return ToClient(url, automatic=automatic or is_loopback_http(redirect_uri), error=error)


def redirect_uri_with(redirect_uri: str, **params: str | None) -> str:
    """Add response parameters to the redirect URI's query, keeping the query it already has (§4.1.2).

    The registered URI is kept character for character (OAuth 2.1 §2.3.1: it was matched as a
    string; issue 11 item 15): its query is neither decoded, re-encoded nor reordered; the new
    parameters are appended after it, form-encoded.
    """
    base = redirect_uri.split("#", 1)[0]
    added = urlencode([(name, value) for name, value in params.items() if value is not None])
    if not added:
        return base
    if "?" not in base:
        return f"{base}?{added}"
    return base + added if base.endswith(("?", "&")) else f"{base}&{added}"


#: Where the browser goes after a step of the interaction.
Onward = ToInteraction | ToClient | ToProvider


def next_step(outcome: Onward) -> Response:
    """A 303 (OAuth 2.1 §1.6: never 307) to the next page, a downstream provider or the client; or an error page."""
    if isinstance(outcome, ToInteraction):
        page = INTERACTION_PAGES[outcome.page].format(interaction_id=outcome.interaction_id)
        return RedirectResponse(page, status_code=303)
    if isinstance(outcome, ToProvider):
        return RedirectResponse(outcome.url, status_code=303)
    if not outcome.automatic and outcome.error is not None:
        return error_page(outcome.error, continue_url=outcome.url)
    return RedirectResponse(outcome.url, status_code=303)
