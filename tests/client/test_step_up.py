"""Step-up authorization: ``--call TOOL`` meets 403 ``insufficient_scope`` (CL-30, MCP Step-Up Authorization Flow).

Against the demo authorization server, ``add_note`` needs ``mcp:write`` while the first authorization asks for
``mcp:read`` only; against the fake stack every call with a token is refused, to show the bound.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.stack import AuthorizationServer, McpServer, free_port, start_mcp_server
from tests.client.fake_stack import FakeStack
from tests.client.running import Run, read_store, run_client
from tests.set_up import command_line_in_process


@pytest.fixture(name="notes_mcp", scope="module")
def _notes_mcp(tmp_path_factory: pytest.TempPathFactory, demo_as: AuthorizationServer) -> Iterator[McpServer]:
    """An MCP server of its own behind the demo authorization server: the note added must not show on demo_mcp."""
    port = free_port()
    command_line_in_process(demo_as).cli(  # the command as it is, without an interpreter of its own
        "mcp-servers", "add", "--id", "step-up", "--resource", f"http://localhost:{port}/mcp",
        "--scopes", "mcp:read mcp:write",
    )  # fmt: skip
    server = start_mcp_server(tmp_path_factory.mktemp("step_up_mcp"), port, demo_as.issuer_for("step-up"))
    yield server
    server.program.stop()


@pytest.fixture(name="stepped_up", scope="module")
def _stepped_up(tmp_path_factory: pytest.TempPathFactory, notes_mcp: McpServer) -> tuple[Run, Path]:
    store = tmp_path_factory.mktemp("step_up") / "store.json"
    return run_client(notes_mcp.url, store, "--headless", "--call", "add_note", "--args", '{"text": "hi"}'), store


class TestStepUp:
    def test_add_note_succeeds_after_one_step_up(self, stepped_up: tuple[Run, Path]) -> None:
        """CL-30: after the 403, the client authorizes again, calls again, and add_note answers."""
        run, _ = stepped_up
        assert run.exit_code == 0, run.describe()
        assert run.steps == [
            "1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call",
            "4 authorize", "5 token", "6 call", "7 refresh",
        ]  # fmt: skip
        assert "insufficient_scope, it needs scope 'mcp:write'" in run.stdout
        assert '"note 1 saved"' in run.stdout

    def test_it_asks_for_the_union_of_the_scopes(self, stepped_up: tuple[Run, Path], notes_mcp: McpServer) -> None:
        """CL-30, SEP-2350: the second authorization asks for mcp:read (asked before) and mcp:write (challenged)."""
        run, store = stepped_up
        assert "authorize again for scope mcp:read mcp:write" in run.stdout
        held = read_store(store)["tokens"][notes_mcp.url][notes_mcp.issuer]
        assert held["scope"] == "mcp:read mcp:write"


def test_the_step_up_gives_up_after_two_retries(tmp_path: Path, fake: FakeStack) -> None:
    """CL-30: a server that keeps answering insufficient_scope gets two step-ups, then one error line and exit 8."""
    fake.reset(insufficient_scope=True)
    run = run_client(fake.mcp_url, tmp_path / "store.json", "--headless", "--call", "add_note")
    assert run.exit_code == 8, run.describe()
    assert fake.authorized_scopes == ["mcp:read", "mcp:read mcp:write", "mcp:read mcp:write"]
    assert run.stderr == (
        "error: the MCP server refused the call: insufficient_scope, it needs scope 'mcp:write', still after 2 "
        "step-ups to scope 'mcp:read mcp:write' (CL-30: a bounded number of retries)\n"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--args", "{}"], "error: --args needs --call TOOL\n"),
        (["--call", "add_note", "--args", "[1]"], "error: --args: the arguments of a tool are a JSON object"),
    ],
)
def test_args_must_be_a_json_object_for_a_call(tmp_path: Path, options: list[str], message: str) -> None:
    """--args takes a JSON object and needs --call; otherwise exit code 2 before any request."""
    run = run_client("http://localhost:9/mcp", tmp_path / "store.json", "--headless", *options)
    assert run.exit_code == 2, run.describe()
    assert run.stderr.startswith(message)
