"""``--quiet`` (issue 17, the client): one line per step with what it found, and the outcome; the
step-by-step wire view stays the default."""

import re
from pathlib import Path

from scripts.stack import McpServer
from tests.client.running import read_store, run_client

QUIET_LINE = re.compile(r"^(\d)/8 (\w+)(: .*)?$")


def test_one_line_per_step_and_the_outcome(tmp_path: Path, demo_mcp: McpServer) -> None:
    """Issue 17: seven step lines, then the outcome; no request, response, rule or step heading."""
    store = tmp_path / "store.json"
    run = run_client(demo_mcp.url, store, "--headless", "--quiet")
    assert run.exit_code == 0, run.describe()
    lines = run.stdout.splitlines()
    assert [QUIET_LINE.sub(r"\1 \2", line) for line in lines[:-1]] == [
        "1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh",
    ]  # fmt: skip
    assert lines[0] == f"1/8 discover: resource {demo_mcp.url}, authorization server {demo_mcp.issuer}"
    assert lines[5].startswith("6/8 call: tools: ") and "; whoami: {" in lines[5]
    assert lines[-1] == f"done: registration and tokens are stored in {store}"
    assert not [line for line in lines if "→" in line or "←" in line or "rule [" in line or "==" in line]
    held = read_store(store)["tokens"][demo_mcp.url][demo_mcp.issuer]
    assert held["access_token"] not in run.stdout and held["refresh_token"] not in run.stdout  # CL-28


def test_a_failure_keeps_the_line_of_the_step_that_failed(tmp_path: Path, demo_mcp: McpServer) -> None:
    """Issue 17: with --quiet a failed run still shows the steps it went through, then its one error line."""
    run = run_client(demo_mcp.url, tmp_path / "store.json", "--headless", "--quiet", "--call", "no_such_tool")
    assert run.exit_code == 8, run.describe()
    assert run.stdout.splitlines()[-1].startswith("6/8 call: tools: ")
    assert run.stderr.startswith("error: the MCP server has no tool 'no_such_tool'")


def test_the_wire_view_stays_the_default(tmp_path: Path, demo_mcp: McpServer) -> None:
    """Issue 17: without --quiet the run is the tutorial: step headings, requests, rules."""
    run = run_client(demo_mcp.url, tmp_path / "store.json", "--headless")
    assert "== Step 1/8 · discover ==" in run.stdout and "→ POST" in run.stdout and "rule [" in run.stdout
