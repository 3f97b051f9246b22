"""Where the authorization response arrives: the user agent's side of step 4.

The flow talks to a :class:`UserAgent`, which sends the user to the authorization URL and
returns the parameters of the redirect back. Two kinds exist:

- :class:`LoopbackCallback` (here): the user's browser is sent back to
  ``http://127.0.0.1:PORT/callback``, where a listener waits (RFC 8252 §7.3). It listens on
  127.0.0.1 only, and only while the flow runs (CL-21); on the preferred port, or on a free one
  when that is taken (the port of a loopback redirect URI may vary, RFC 8252 §7.3). The browser
  is opened with ``webbrowser``, never through a shell (CL-22), or the URL is only printed.
- :class:`client.headless.HeadlessBrowser`: no browser; the client follows the redirects itself.

Tests give the flow either, over real sockets.
"""

import asyncio
import webbrowser
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Protocol, Self

from mcp_authz.client.authorization import parse_response
from mcp_authz.client.errors import AuthorizationError
from mcp_authz.client.tutorial import Tutorial

LOOPBACK_ADDRESS = "127.0.0.1"
CALLBACK_PATH = "/callback"
#: How long one connection may take to send its request line and headers, seconds.
READ_TIMEOUT = 10.0
MAX_HEADER_LINES = 100

DONE_PAGE = (
    "<!doctype html><title>Authorization response received</title>"
    "<p>The client received the authorization response. You can close this window and go back to the terminal."
)
NOT_FOUND_PAGE = "<!doctype html><title>Not found</title><p>Nothing here: this listener only takes /callback."
AGAIN_PAGE = "<!doctype html><title>Already received</title><p>The client already received an authorization response."


class UserAgent(Protocol):
    """Sends the user to an authorization URL and brings back the response's parameters."""

    @property
    def redirect_uri(self) -> str: ...

    async def authorize(self, url: str) -> dict[str, str]: ...


UserAgentFactory = Callable[[], AbstractAsyncContextManager[UserAgent]]


def redirect_uri_for(port: int) -> str:
    """``http://127.0.0.1:PORT/callback``: the loopback IP literal, not ``localhost`` (RFC 8252 §8.3)."""
    return f"http://{LOOPBACK_ADDRESS}:{port}{CALLBACK_PATH}"


class LoopbackCallback:
    """A one-shot HTTP listener on 127.0.0.1 for the redirect back from the authorization server."""

    def __init__(self, *, preferred_port: int, timeout: float, show: Callable[[str], Awaitable[None]]) -> None:
        """``show`` takes the user to the authorization URL: opens a browser, or prints the URL."""
        self._preferred_port = preferred_port
        self._timeout = timeout
        self._show = show
        self._server: asyncio.Server | None = None
        self._received: asyncio.Future[str] | None = None
        self.port = 0

    @property
    def redirect_uri(self) -> str:
        return redirect_uri_for(self.port)

    async def __aenter__(self) -> Self:
        self._received = asyncio.get_running_loop().create_future()
        try:
            self._server = await asyncio.start_server(self._handle, LOOPBACK_ADDRESS, self._preferred_port)
        except OSError:  # taken: any free port will do (RFC 8252 §7.3)
            self._server = await asyncio.start_server(self._handle, LOOPBACK_ADDRESS, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def authorize(self, url: str) -> dict[str, str]:
        assert self._received is not None
        await self._show(url)
        try:
            query = await asyncio.wait_for(asyncio.shield(self._received), self._timeout)
        except TimeoutError:
            raise AuthorizationError(
                f"no authorization response reached {self.redirect_uri} within {self._timeout:g} s (--callback-timeout)"
            ) from None
        return parse_response(query)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one connection: the first ``GET /callback`` delivers its query; nothing else does."""
        try:
            request_line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
            for _ in range(MAX_HEADER_LINES):
                if await asyncio.wait_for(reader.readline(), READ_TIMEOUT) in (b"\r\n", b"\n", b""):
                    break
            method, target, _version = request_line.decode("latin-1").split(" ", 2)
            path, _, query = target.partition("?")
            if method != "GET" or path != CALLBACK_PATH:
                status, page = "404 Not Found", NOT_FOUND_PAGE
            elif self._received is None or self._received.done():
                status, page = "409 Conflict", AGAIN_PAGE
            else:
                self._received.set_result(query)
                status, page = "200 OK", DONE_PAGE
            body = page.encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ValueError, ConnectionError):
            pass  # a speculative or malformed connection: there is no one to answer
        finally:
            writer.close()


def open_browser(tutorial: Tutorial) -> Callable[[str], Awaitable[None]]:
    """``show`` for :class:`LoopbackCallback`: the system browser, through ``webbrowser`` (CL-22)."""

    async def show(url: str) -> None:
        tutorial.say(f"opening your browser at the authorization URL: {url}")
        # A console browser may block until it exits; the listener keeps answering meanwhile.
        if not await asyncio.to_thread(webbrowser.open, url):
            tutorial.say("no browser could be started: open the URL above yourself")

    return show


def print_url(tutorial: Tutorial, timeout: float) -> Callable[[str], Awaitable[None]]:
    """``show`` for ``--no-browser``: the URL is printed for the user to open."""

    async def show(url: str) -> None:
        tutorial.say(f"open this authorization URL in your browser: {url}")
        tutorial.say(f"(waiting up to {timeout:g} s for the redirect back)")

    return show
