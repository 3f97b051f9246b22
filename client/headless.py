"""``--headless``: no browser; the client follows the authorization server's redirects itself.

This works when the authorization server decides without a person: ``python -m
authorization_server --demo`` approves every request as its demo user and redirects straight
back with the code. A page that needs a person (sign-in, consent) stops the run with a clear
message: filling in a password form for the user is not this client's business.

No listener is opened: the redirect back to the loopback redirect URI is read from the last
``Location`` header instead of being followed.
"""

from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit

import httpx2

from mcp_authz.client.authorization import parse_response
from mcp_authz.client.callback import redirect_uri_for
from mcp_authz.client.errors import AuthorizationError, AuthorizationServerError, NeedsPerson, describe
from mcp_authz.client.tutorial import Tutorial, masked_url
from mcp_authz.client.urls import UrlPolicy
from mcp_authz.client.wire import http_client

MAX_REDIRECTS = 10


class HeadlessBrowser:
    """A :class:`client.callback.UserAgent` that follows redirects, checking each hop."""

    def __init__(self, *, port: int, tutorial: Tutorial, policy: UrlPolicy) -> None:
        self.redirect_uri = redirect_uri_for(port)
        self._tutorial = tutorial
        self._policy = policy

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def authorize(self, url: str) -> dict[str, str]:
        # A client of its own: the authorization server's cookies belong to this "browser" only.
        async with http_client(self._tutorial, bodies=False) as browser:
            for _ in range(MAX_REDIRECTS):
                try:
                    response = await browser.get(url)
                except httpx2.TransportError as exc:
                    raise AuthorizationServerError(f"cannot reach {_without_query(url)}: {describe(exc)}") from None
                location = response.headers.get("location")
                if not (response.is_redirect and location):
                    if response.is_success:
                        raise NeedsPerson(_stopped_at(url, response))
                    raise AuthorizationError(_stopped_at(url, response))
                url = urljoin(url, location)
                if url.partition("?")[0] == self.redirect_uri:
                    return parse_response(urlsplit(url).query)
                problem = self._policy.problem(url)
                if problem:
                    raise AuthorizationError(f"the authorization server redirects to {masked_url(url)}: {problem}")
        raise AuthorizationError(f"more than {MAX_REDIRECTS} redirects without reaching {self.redirect_uri}")


def _stopped_at(url: str, response: httpx2.Response) -> str:
    page = _without_query(url)
    if response.is_success:
        return (
            f"the authorization server shows a sign-in or consent page ({page}) that needs a person: "
            "--headless only works against a server that approves by itself (python -m authorization_server "
            "--demo); run without --headless to sign in with your browser"
        )
    return (
        f"the authorization server answered {response.status_code} {response.reason_phrase} at {page} "
        "instead of redirecting back: it refuses this request (unknown client or redirect URI?)"
    )


def _without_query(url: str) -> str:
    return url.partition("?")[0]
