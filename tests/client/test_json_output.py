"""``--json`` and ``--verbose`` (client/json_output.py, client/tutorial.py): the same run, for scripts or in full."""

import json
from pathlib import Path

import pytest

from scripts.stack import McpServer
from tests.client.running import Run, assert_tokens_masked, run_client

SEVEN = ["discover", "metadata", "register", "authorize", "token", "call", "refresh"]


@pytest.fixture(name="json_run", scope="module")
def _json_run(tmp_path_factory: pytest.TempPathFactory, demo_mcp: McpServer) -> tuple[Run, Path]:
    store = tmp_path_factory.mktemp("json") / "store.json"
    return run_client(demo_mcp.url, store, "--headless", "--json"), store


def steps_of(run: Run) -> list[dict]:
    return [json.loads(line) for line in run.stdout.splitlines()]


class TestJson:
    """One JSON object per step on stdout, and nothing else there."""

    def test_every_line_is_one_step(self, json_run: tuple[Run, Path]) -> None:
        """Seven objects, in order, each with its number and the documented keys."""
        run, _ = json_run
        assert (run.exit_code, run.stderr) == (0, ""), run.describe()
        steps = steps_of(run)
        assert [(step["number"], step["step"]) for step in steps] == list(enumerate(SEVEN, start=1))
        keys = ["data", "exchanges", "notes", "number", "results", "rules", "step", "title"]
        assert {tuple(sorted(step)) for step in steps} == {tuple(keys)}

    def test_the_token_exchange_is_given_in_full_but_masked(
        self, json_run: tuple[Run, Path], demo_mcp: McpServer
    ) -> None:
        """Step 5: the form sent, the response's status, no-store header and masked tokens."""
        run, _ = json_run
        [exchange] = steps_of(run)[4]["exchanges"]
        assert exchange["request"]["method"] == "POST"
        assert exchange["request"]["url"] == f"{demo_mcp.issuer}/token"
        assert exchange["request"]["body"]["grant_type"] == "authorization_code"
        assert exchange["request"]["body"]["code"].endswith("…")
        assert exchange["response"]["status"] == 200
        assert exchange["response"]["headers"]["cache-control"] == "no-store"
        assert exchange["response"]["body"]["access_token"].endswith("…")
        assert {"rule": "CL-24, CL-25, CL-19"}.items() <= steps_of(run)[4]["rules"][0].items()

    def test_no_token_appears_whole(self, json_run: tuple[Run, Path], demo_mcp: McpServer) -> None:
        """CL-28: neither stored token appears in the output, in any form."""
        run, store = json_run
        assert_tokens_masked(run.stdout, store, demo_mcp.url, demo_mcp.issuer)

    def test_a_failure_is_a_json_object_on_stderr(self, demo_mcp: McpServer, tmp_path: Path) -> None:
        """A step run out of order: nothing on stdout, the error and its exit code on stderr."""
        run = run_client(demo_mcp.url, tmp_path / "store.json", "--json", "--step", "token")
        assert (run.exit_code, run.stdout) == (10, "")
        assert json.loads(run.stderr) == {
            "error": f"nothing is discovered for {demo_mcp.url}: run --step discover first",
            "exit_code": 10,
        }


class TestVerbose:
    """--verbose shows every exchange in full; the default keeps MCP requests to one line."""

    def test_verbose_shows_mcp_messages_headers_and_timings(self, demo_mcp: McpServer, tmp_path: Path) -> None:
        """The JSON-RPC tools/call body, the User-Agent header and the time of each exchange."""
        store = tmp_path / "store.json"
        assert run_client(demo_mcp.url, store).exit_code == 0
        default = run_client(demo_mcp.url, store, "--headless", "--step", "call")
        verbose = run_client(demo_mcp.url, store, "--headless", "--step", "call", "--verbose")
        assert (default.exit_code, verbose.exit_code) == (0, 0)
        assert f"→ POST {demo_mcp.url} (Mcp-Method: tools/call, Mcp-Name: whoami)" in default.stdout
        assert '"method": "tools/call"' not in default.stdout
        assert '"method": "tools/call"' in verbose.stdout
        assert "user-agent: python-httpx2" in verbose.stdout
        assert verbose.stdout.count(" ms\n") == 3  # server/discover, tools/list, tools/call
        assert len(verbose.stdout.splitlines()) > 2 * len(default.stdout.splitlines())
