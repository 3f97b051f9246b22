"""The loopback listener (client/callback.py): CL-21, RFC 8252 §7.3 and §8.3."""

import asyncio
import socket

import httpx2
import pytest

from mcp_authz.client.callback import LoopbackCallback
from mcp_authz.client.errors import AuthorizationError
from scripts.stack import free_port

pytestmark = pytest.mark.anyio


class Browser:
    """Plays the user's browser: sent to the authorization URL, it asks for a favicon, then comes
    back to ``target`` on the listener's port."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = 0
        self.pages: list[tuple[int, str]] = []
        self.visit: asyncio.Task[None] | None = None

    async def show(self, url: str) -> None:
        self.visit = asyncio.get_running_loop().create_task(self._come_back())

    async def _come_back(self) -> None:
        async with httpx2.AsyncClient() as http:
            for path in ("/favicon.ico", self.target):
                response = await http.get(f"http://127.0.0.1:{self.port}{path}")
                self.pages.append((response.status_code, response.text))


async def nobody(url: str) -> None:
    """A user who never comes back."""


async def listen(browser: Browser, preferred_port: int) -> tuple[dict[str, str], int]:
    listener = LoopbackCallback(preferred_port=preferred_port, timeout=5.0, show=browser.show)
    async with listener:
        browser.port = listener.port
        params = await listener.authorize("https://auth.example.com/authorize?x=1")
    assert browser.visit is not None
    await browser.visit
    return params, listener.port


class TestLoopbackCallback:
    """CL-21: a listener on 127.0.0.1, on the preferred port or a free one, only during the flow."""

    async def test_it_listens_on_127_0_0_1_at_the_preferred_port(self) -> None:
        """CL-21, RFC 8252 §8.3: the loopback IP literal, and the redirect URI names the port."""
        port = free_port()
        listener = LoopbackCallback(preferred_port=port, timeout=1, show=nobody)
        async with listener:
            assert listener.redirect_uri == f"http://127.0.0.1:{port}/callback"
            assert listener._server is not None
            assert [s.getsockname()[0] for s in listener._server.sockets] == ["127.0.0.1"]

    async def test_a_taken_port_is_replaced_by_a_free_one(self) -> None:
        """RFC 8252 §7.3: the port may vary, so a busy preferred port is not an error."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            listener = LoopbackCallback(preferred_port=busy, timeout=1, show=nobody)
            async with listener:
                assert listener.port not in (0, busy)
                assert listener.redirect_uri == f"http://127.0.0.1:{listener.port}/callback"

    async def test_the_callback_delivers_its_parameters_and_nothing_else_does(self) -> None:
        """Only GET /callback counts; other paths get 404 and the listener keeps waiting."""
        browser = Browser("/callback?code=c0de&state=s1")
        params, _ = await listen(browser, free_port())
        assert params == {"code": "c0de", "state": "s1"}
        assert [status for status, _ in browser.pages] == [404, 200]
        assert "The client received the authorization response." in browser.pages[1][1]

    async def test_the_listener_is_closed_after_the_flow(self) -> None:
        """CL-21: nothing listens once the response has arrived."""
        _, port = await listen(Browser("/callback?code=c&state=s"), free_port())
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0

    async def test_no_response_in_time_is_a_clear_error(self) -> None:
        """--callback-timeout: the run stops with one line naming the redirect URI."""
        listener = LoopbackCallback(preferred_port=free_port(), timeout=0.2, show=nobody)
        async with listener:
            with pytest.raises(AuthorizationError) as raised:
                await listener.authorize("https://auth.example.com/authorize")
        assert str(raised.value) == (
            f"no authorization response reached {listener.redirect_uri} within 0.2 s (--callback-timeout)"
        )
