"""Issue 11, items 8 and 13: clients that go away mid-body, and clients too slow to ever finish,
played on raw sockets against a running authorization server (docs/decisions/0029)."""

import json
import socket
import time
from contextlib import closing

import httpx2
import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol

from mcp_authz.authorization_server.cli.serve import uvicorn_options
from mcp_authz.authorization_server.settings import fast_http_installed
from mcp_authz.authorization_server.settings import from_options as settings_from_options
from scripts.stack import AuthorizationServer, InProcessProgram
from tests.authorization_server.test_cli import cli
from tests.raw_http import PATIENCE, connect, head, read_response, read_until_closed, send_half_a_body_and_close
from tests.waiting import eventually

FORM = "application/x-www-form-urlencoded"
#: Every kind of endpoint that reads a body: the form APIs, the JSON ones, a browser page.
BODY_READERS = [
    ("/token", FORM),
    ("/revoke", FORM),
    ("/introspect", FORM),
    ("/register", "application/json"),
    ("/api/v1/authz/clients/register", "application/json"),
    ("/account/apps", FORM),
]


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def send_stalled_body(server: AuthorizationServer, path: str, content_type: str = FORM) -> socket.socket:
    """Headers announcing 100 bytes of body, then 10 of them, then nothing."""
    sock = connect(server.port)
    sock.sendall(head(server.port, "POST", path, {"Content-Type": content_type, "Content-Length": "100"}))
    sock.sendall(b"grant_type")
    return sock


class TestClientGoneMidBody:
    def test_a_client_that_closes_mid_body_ends_quietly_and_the_server_keeps_serving(
        self, fresh_as: AuthorizationServer
    ):
        """Issue 11 item 8: half a body then a closed connection was a 500 with a ClientDisconnect
        traceback at every endpoint that reads a body; now only the access-log line, status 499."""
        for path, content_type in BODY_READERS:
            send_half_a_body_and_close(fresh_as.port, path, content_type)

        eventually(lambda: fresh_as.program.log().count(" 499 ") == len(BODY_READERS))
        log = fresh_as.program.log()
        assert "Traceback" not in log and "ERROR" not in log and " 500 " not in log
        assert httpx2.get(f"{fresh_as.url}/jwks.json").status_code == 200


@pytest.mark.as_options("--body-timeout", "1")
class TestStalledBody:
    @pytest.mark.parametrize(("path", "content_type"), [BODY_READERS[0], BODY_READERS[3]], ids=["form", "json"])
    def test_a_stalled_body_is_cut_off_after_the_timeout_with_408_and_the_connection_closed(
        self, fresh_as: AuthorizationServer, path: str, content_type: str
    ):
        """Issue 11 item 13, RFC 9110 §15.5.9: a body that stops arriving held the connection for
        good; now 408 invalid_request (JSON at an API) after --body-timeout, then the close."""
        started = time.monotonic()
        with closing(send_stalled_body(fresh_as, path, content_type)) as stalled:
            others = httpx2.get(f"{fresh_as.url}/jwks.json")  # meanwhile, others are answered
            answer = read_until_closed(stalled)
        waited = time.monotonic() - started

        assert others.status_code == 200
        assert status_of(answer) == 408 and b"\r\nconnection: close\r\n" in answer.lower()
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert body == {"error": "invalid_request", "error_description": "the request body did not arrive within 1 s"}
        assert 1 <= waited < PATIENCE
        assert "Traceback" not in fresh_as.program.log()

    def test_a_stalled_form_on_a_page_is_a_readable_408_page(self, fresh_as: AuthorizationServer):
        """Issue 11 item 13: a browser endpoint answers the same timeout with its error page."""
        with closing(send_stalled_body(fresh_as, "/account/apps")) as stalled:
            answer = read_until_closed(stalled)

        assert status_of(answer) == 408 and b"content-type: text/html" in answer.lower()
        assert b"did not arrive within 1 s" in answer


class SlowHeaders:
    """The header deadline's tests, run on each HTTP stack (the classes below give the options)."""

    @pytest.mark.parametrize(
        "sent",
        [b"POST /tok", b"POST /token HTTP/1.1\r\nHost: localhost\r\n"],
        ids=["half-a-request-line", "headers-without-end"],
    )
    def test_headers_that_never_end_get_408_and_the_connection_closed(self, fresh_as: AuthorizationServer, sent: bytes):
        """Issue 11 item 13: uvicorn has no header timeout (such a connection was still open after
        60 s); now 408 after --header-timeout, then the close (shared/http_deadlines.py)."""
        started = time.monotonic()
        with closing(connect(fresh_as.port)) as slow:
            slow.sendall(sent)
            answer = read_until_closed(slow)

        assert status_of(answer) == 408 and b"connection: close" in answer
        assert 1 <= time.monotonic() - started < PATIENCE
        assert httpx2.get(f"{fresh_as.url}/jwks.json").status_code == 200

    def test_a_silent_connection_is_closed_and_one_that_finishes_in_time_is_answered(
        self, fresh_as: AuthorizationServer
    ):
        """Issue 11 item 13: a connection that never sends is closed without an answer; the deadline
        runs again after each answer, so a kept-alive connection gets a second request answered."""
        with closing(connect(fresh_as.port)) as silent, closing(connect(fresh_as.port)) as prompt:
            for _ in range(2):
                prompt.sendall(head(fresh_as.port, "GET", "/jwks.json", {}))
                assert status_of(read_response(prompt)) == 200
            assert read_until_closed(silent) == b""


@pytest.mark.as_options("--header-timeout", "1")
class TestSlowHeaders(SlowHeaders):
    """The default stack, asyncio and h11."""


@pytest.mark.as_options("--limit-concurrency", "4", "--header-timeout", "2")
def test_beyond_the_concurrency_limit_requests_get_503_until_stalled_connections_are_cut(
    fresh_as: AuthorizationServer,
):
    """Issue 11 item 13: at most --limit-concurrency connections and requests at once (503 beyond,
    uvicorn's check); the header deadline frees the places stalled connections took."""
    stalled = [connect(fresh_as.port) for _ in range(4)]
    try:
        eventually(lambda: httpx2.get(f"{fresh_as.url}/jwks.json").status_code == 503)
        for sock in stalled:
            assert read_until_closed(sock) == b""
    finally:
        for sock in stalled:
            sock.close()
    assert httpx2.get(f"{fresh_as.url}/jwks.json").status_code == 200


@pytest.mark.parametrize("option", ["--header-timeout", "--body-timeout", "--limit-concurrency"])
def test_a_limit_of_zero_stops_the_start_with_one_line(tmp_path, option: str):
    """Issue 11 item 13: the bounds cannot be switched off by a zero; a bad setting is one line, exit 2."""
    result = cli(tmp_path / "db.sqlite3", option, "0")

    assert (result.returncode, result.stderr) == (
        2,
        f"authorization_server: {option[2:].replace('-', '_')} must be positive\n",
    )


NOT_INSTALLED = "uvloop and httptools are not installed (the dev extras pin them)"


@pytest.mark.skipif(not fast_http_installed(), reason=NOT_INSTALLED)
@pytest.mark.as_options("--header-timeout", "1", "--http-stack", "uvloop")
class TestSlowHeadersOnUvloopAndHttptools(SlowHeaders):
    """Decision 0052: with --http-stack uvloop, uvicorn's httptools protocol keeps the same header
    deadline (shared/http_deadlines.py): the same tests, on the other parser and loop."""

    def test_the_server_runs_on_uvloop_and_httptools(self, fresh_as: AuthorizationServer):
        """Decision 0052: --http-stack uvloop is uvloop's loop and the httptools parser, with the deadline."""
        assert isinstance(fresh_as.program, InProcessProgram) and fresh_as.program.server is not None
        config = fresh_as.program.server.config
        assert config.loop == "uvloop"
        assert "HttpToolsProtocol" in [base.__name__ for base in config.http_protocol_class.__mro__]
        assert config.http_protocol_class.header_timeout == 1.0


@pytest.mark.parametrize(
    ("stack", "loop", "protocol"),
    [("asyncio", "asyncio", "H11Protocol"), ("uvloop", "uvloop", "HttpToolsProtocol")],
    ids=["asyncio", "uvloop"],
)
def test_the_http_stack_setting_picks_uvicorns_loop_and_parser(stack: str, loop: str, protocol: str):
    """Decision 0052: --http-stack names uvicorn's loop and HTTP/1.1 parser outright, never uvicorn's
    "auto" (which would change with what is installed); both parsers keep the header deadline."""
    if stack == "uvloop" and not fast_http_installed():
        pytest.skip(NOT_INSTALLED)
    options = uvicorn_options(settings_from_options(["--http-stack", stack], {}))

    assert options["loop"] == loop
    assert protocol in [base.__name__ for base in options["http"].__mro__]
    assert options["http"].header_timeout == 10.0


def test_the_default_http_stack_is_asyncio_and_h11_whatever_is_installed():
    """Decision 0052: the project ships asyncio and h11; uvloop and httptools, even installed, are opt-in."""
    options = uvicorn_options(settings_from_options([], {}))

    assert options["loop"] == "asyncio"
    assert issubclass(options["http"], H11Protocol)
