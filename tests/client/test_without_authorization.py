"""An MCP server that asks for no authorization (issue 15, "Every conformance scenario").

MCP Authorization §1: authorization is OPTIONAL for MCP implementations. The client's probe
(``server/discover`` without a token) meets no 401, so the client says so in one line, skips the
authorization steps and stores nothing, and goes on through the SDK: it lists the tools and calls
those ``--call`` names, in order, each with the ``--args`` after it. An elicitation request is
answered with the defaults the server proposes (SEP-1034), or declined when a required field has none.

The server is the mcp SDK's own ``MCPServer`` without ``AuthSettings``, in this process.
"""

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp_types import ElicitRequestFormParams
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_authz.client.mcp_calls import DefaultAnswers
from mcp_authz.client.tutorial import Tutorial
from tests.client.fake_stack import FakeStack
from tests.client.running import run_client
from tests.client.threaded import ThreadedServer


class OpenServer:
    """The SDK's MCP server on loopback, with no authorization; records each request's Authorization header."""

    def __init__(self) -> None:
        self.authorization_headers: list[str | None] = []
        server: MCPServer = MCPServer(name="open")

        @server.tool()
        def add(a: int, b: int) -> int:
            """The sum of two numbers."""
            return a + b

        self.server = ThreadedServer(
            self.recorded(server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")), lifespan="on"
        )
        self.url = f"http://127.0.0.1:{self.server.port}/mcp"

    def recorded(self, app: ASGIApp) -> ASGIApp:
        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                headers = dict(scope["headers"])
                value = headers.get(b"authorization")
                self.authorization_headers.append(value.decode() if value is not None else None)
            await app(scope, receive, send)

        return recording


@pytest.fixture(scope="module")
def open_server() -> Iterator[OpenServer]:
    server = OpenServer()
    server.server.start()
    yield server
    server.server.stop()


def test_the_client_says_the_server_asks_for_no_authorization_and_calls_its_tools(
    open_server: OpenServer, tmp_path: Path
) -> None:
    """MCP Authorization §1 (optional), issue 15: one line says so, no token is sent, nothing is stored,
    and the tools are called in order with their own arguments."""
    store = tmp_path / "store.json"
    open_server.authorization_headers.clear()
    run = run_client(
        open_server.url, store, "--headless",
        "--call", "add", "--args", '{"a": 2, "b": 3}', "--call", "add", "--args", '{"a": 40, "b": 2}',
    )  # fmt: skip
    assert run.exit_code == 0, run.describe()
    assert run.stdout.count("this MCP server asks for no authorization") >= 1
    assert "tools: add" in run.stdout
    calls = run.stdout.split("add:\n")[1:]
    assert ['"result": 5' in calls[0], '"result": 42' in calls[1]] == [True, True]
    assert "Step 2" not in run.stdout and "register" not in run.stdout.lower()
    assert open_server.authorization_headers and set(open_server.authorization_headers) == {None}
    assert not store.exists() or json.loads(store.read_text()).get("tokens") in (None, {}, [])


@pytest.mark.anyio
async def test_an_elicitation_is_answered_with_the_defaults_the_server_proposes() -> None:
    """MCP Elicitation, SEP-1034: every required field has a default, so the form is accepted with the defaults.

    (The SDK's server elicits at the 2026-07-28 wire through SEP-2322 input requests, which the harness's
    scenarios ``elicitation-sep1034-client-defaults`` and ``sep-2322-client-request-state`` drive end to end.)
    """
    answer = await DefaultAnswers(Tutorial(io.StringIO()))(None, form({"colour": {"type": "string", "default": "green"},
        "count": {"type": "integer", "default": 3}, "note": {"type": "string"}}, required=["colour"]))  # fmt: skip
    assert (answer.action, answer.content) == ("accept", {"colour": "green", "count": 3})


@pytest.mark.anyio
async def test_an_elicitation_without_a_default_for_a_required_field_is_declined() -> None:
    """MCP Elicitation: this client asks its user nothing after the browser step, so it declines."""
    answer = await DefaultAnswers(Tutorial(io.StringIO()))(None, form({"name": {"type": "string"}}, required=["name"]))
    assert (answer.action, answer.content) == ("decline", None)


def form(properties: dict[str, Any], required: list[str]) -> ElicitRequestFormParams:
    return ElicitRequestFormParams(
        message="?", requested_schema={"type": "object", "properties": properties, "required": required}
    )


def test_a_tool_the_server_lacks_is_an_error_after_listing(open_server: OpenServer, tmp_path: Path) -> None:
    """Exit code 8: the tool is not among those listed, and the line names those it has."""
    run = run_client(open_server.url, tmp_path / "store.json", "--headless", "--call", "nope")
    assert run.exit_code == 8, run.describe()
    assert run.stderr == "error: the MCP server has no tool 'nope'; it has: add\n"


def test_a_2025_03_26_server_is_authorized_at_the_default_endpoints_of_its_origin(
    fake: FakeStack, tmp_path: Path
) -> None:
    """MCP 2025-03-26 Authorization §2.3.2 and §2.3.3 (Fallbacks), issue 15: no ``resource_metadata`` in the
    challenge and no protected resource metadata, so the authorization base URL is the MCP server's origin;
    it has no RFC 8414 metadata either, so the client registers at /register, authorizes at /authorize
    (with PKCE S256) and redeems the code at /token, for the MCP server's own URL."""
    fake.reset(march_2025=True, publishes_metadata=False, iss=None)
    run = run_client(fake.mcp_url, tmp_path / "store.json")
    assert fake.requests[:8] == [
        "POST /mcp",
        "GET /.well-known/oauth-protected-resource/mcp",
        "GET /.well-known/oauth-protected-resource",
        "GET /.well-known/oauth-authorization-server",
        "GET /.well-known/openid-configuration",
        "POST /register",
        "GET /authorize",
        "POST /token",
    ], run.describe()
    [token_request] = fake.token_requests[:1]
    assert (token_request["grant_type"], token_request["resource"]) == ("authorization_code", fake.mcp_url)
    assert token_request["code_verifier"]
    assert "use the default endpoints /authorize, /token and /register" in run.stdout


def test_step_discover_says_no_later_step_applies(open_server: OpenServer, tmp_path: Path) -> None:
    """Issue 15: ``--step discover`` on a server that asks for no authorization says so, stores nothing, and
    names the run that calls its tools."""
    store = tmp_path / "store.json"
    run = run_client(open_server.url, store, "--headless", "--quiet", "--step", "discover")
    assert run.exit_code == 0, run.describe()
    assert "this MCP server asks for no authorization" in run.stdout
    assert "run without --step to list and call its tools" in run.stdout
    assert (
        not store.exists()
        or "progress" not in json.loads(store.read_text())
        or not json.loads(store.read_text())["progress"].get(open_server.url)
    )


def test_step_call_calls_a_server_that_asks_for_no_authorization(open_server: OpenServer, tmp_path: Path) -> None:
    """Issue 15 and MCP Authorization §1: ``--step call`` with nothing stored asks the server first; one that
    needs no authorization has its tools listed and called, with no Authorization header and nothing stored."""
    store = tmp_path / "store.json"
    sent_before = len(open_server.authorization_headers)
    run = run_client(
        open_server.url, store, "--headless", "--step", "call", "--call", "add", "--args", '{"a": 2, "b": 3}'
    )
    assert run.exit_code == 0, run.describe()
    assert "this MCP server asks for no authorization" in run.stdout
    assert "run --step discover first" not in run.stdout + run.stderr
    assert "5" in run.stdout
    assert open_server.authorization_headers[sent_before:] and not any(open_server.authorization_headers[sent_before:])
    assert not store.exists() or not json.loads(store.read_text()).get("progress", {}).get(open_server.url)


def test_step_call_on_a_protected_server_with_nothing_stored_names_the_step_to_run(
    fake: FakeStack, tmp_path: Path
) -> None:
    """``--step call`` with nothing stored, on a server that answers 401: the discovery is made and stored, and the
    run stops naming the next missing step (exit code 10), never calling a tool without a token."""
    run = run_client(fake.mcp_url, tmp_path / "store.json", "--headless", "--step", "call")
    assert run.exit_code == 10, run.describe()
    assert "run --step metadata first" in run.stdout + run.stderr
