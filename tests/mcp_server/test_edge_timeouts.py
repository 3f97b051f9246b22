"""Issue 11, items 8 and 13 at the MCP server: a client gone mid-body, a stalled body, slow headers,
played on raw sockets against a server of this module's own with one-second limits (docs/decisions/0029)."""

import json
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx2
import pytest

from scripts.stack import AuthorizationServer, McpServer, free_port, run_cli, start_mcp_server
from tests.mcp_server.helpers import Signer
from tests.raw_http import PATIENCE, connect, head, read_until_closed, send_half_a_body_and_close

ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, demo_as: AuthorizationServer) -> Iterator[McpServer]:
    """An MCP server that gives headers and bodies one second each."""
    server = start_mcp_server(
        tmp_path_factory.mktemp("quick_mcp"),
        free_port(),
        demo_as.issuer_for("demo"),
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
    )
    yield server
    server.program.stop()


@pytest.fixture(name="token")
def _token(demo_as: AuthorizationServer, quick: McpServer) -> str:
    return Signer(demo_as, quick).token()


def metadata_answered(server: McpServer) -> bool:
    return httpx2.get(f"http://127.0.0.1:{server.port}/.well-known/oauth-protected-resource/mcp").status_code == 200


def test_a_client_that_closes_mid_body_ends_quietly_and_the_sdk_never_sees_it(quick: McpServer, token: str):
    """Issue 11 item 8: half a body then a closed connection ends with no answer and no traceback;
    the truncated body is no longer handed to the SDK (which opened a session for it)."""
    send_half_a_body_and_close(quick.port, "/mcp", "application/json", {"Authorization": f"Bearer {token}"})

    assert metadata_answered(quick)
    log = quick.program.log()
    assert "Traceback" not in log and "Created new transport" not in log


def test_a_stalled_body_is_cut_off_after_the_timeout_with_408_and_the_connection_closed(quick: McpServer, token: str):
    """Issue 11 item 13, RFC 9110 §15.5.9: 408 invalid_request after --body-timeout, then the close;
    others are answered meanwhile."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Length": "100"}
    headers["Accept"] = ACCEPT
    started = time.monotonic()
    with closing(connect(quick.port)) as stalled:
        stalled.sendall(head(quick.port, "POST", "/mcp", headers) + b'{"jsonrpc"')
        others_answered = metadata_answered(quick)
        answer = read_until_closed(stalled)

    assert others_answered
    assert answer.startswith(b"HTTP/1.1 408 ") and b"\r\nconnection: close\r\n" in answer.lower()
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "invalid_request"
    assert 1 <= time.monotonic() - started < PATIENCE


def test_headers_that_never_end_get_408_and_the_connection_closed(quick: McpServer):
    """Issue 11 item 13: uvicorn has no header timeout; now 408 after --header-timeout, then the close."""
    with closing(connect(quick.port)) as slow:
        slow.sendall(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\n")
        answer = read_until_closed(slow)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert metadata_answered(quick)


@pytest.mark.parametrize("option", ["--header-timeout", "--body-timeout", "--limit-concurrency"])
def test_a_limit_of_zero_stops_the_start_with_one_line(tmp_path: Path, option: str):
    """Issue 11 item 13: the bounds cannot be switched off; a bad setting is one line, exit 2."""
    result = run_cli(["-m", "mcp_server", option, "0"], check=False)

    assert (result.returncode, result.stderr) == (
        2,
        f"mcp_server: {option} must be a whole number greater than zero, not '0'\n",
    )
