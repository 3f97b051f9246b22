"""Several MCP servers, each with its own issuer, in one store (CL-04, CL-14, CL-27).

An authorization server of its own, in demo mode, serves two MCP servers: ``demo`` and ``second``.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.stack import McpServer, free_port, start_mcp_server
from tests.client.fake_stack import FakeStack
from tests.client.running import Run, read_store, run_cli, run_client
from tests.set_up import set_up_then_serve


@pytest.fixture(name="servers", scope="module")
def _servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[McpServer, McpServer]]:
    workdir = tmp_path_factory.mktemp("several")
    first_port, second_port = free_port(), free_port()
    authorization_server, _ = set_up_then_serve(
        workdir,
        lambda server: server.cli(
            "mcp-servers", "add", "--id", "second", "--resource", f"http://localhost:{second_port}/mcp",
            "--scopes", "mcp:read",
        ),
        mcp_port=first_port,
    )  # fmt: skip
    (workdir / "first").mkdir()
    (workdir / "second").mkdir()
    first = start_mcp_server(workdir / "first", first_port, authorization_server.issuer_for("demo"))
    second = start_mcp_server(workdir / "second", second_port, authorization_server.issuer_for("second"))
    yield first, second
    second.program.stop()
    first.program.stop()
    authorization_server.program.stop()


@pytest.fixture(name="runs", scope="module")
def _runs(servers: tuple[McpServer, McpServer], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Run]]:
    """One store: a run against the first server, one against the second, one against the first again."""
    first, second = servers
    store = tmp_path_factory.mktemp("store") / "store.json"
    runs = [run_client(first.url, store), run_client(second.url, store), run_client(first.url, store)]
    assert [run.exit_code for run in runs] == [0, 0, 0], "\n".join(run.describe() for run in runs)
    return store, runs


class TestOneStoreForTwoServers:
    """CL-14, CL-27: two issuers, two resources, one store."""

    def test_each_issuer_gets_its_own_registration(
        self, servers: tuple[McpServer, McpServer], runs: tuple[Path, list[Run]]
    ) -> None:
        """CL-04, CL-14: the second server's issuer gets a registration of its own; the first one's is not reused."""
        first, second = servers
        store, (_, with_second, _) = runs
        registrations = read_store(store)["registrations"]
        assert f"POST {second.issuer.removesuffix('/mcp/second')}/api/v1/authz/clients/register/mcp/second/latest" in (
            with_second.requests
        )
        assert sorted(registrations) == sorted([first.issuer, second.issuer])
        assert registrations[first.issuer]["client_id"] != registrations[second.issuer]["client_id"]

    def test_tokens_are_kept_per_resource_and_issuer(
        self, servers: tuple[McpServer, McpServer], runs: tuple[Path, list[Run]]
    ) -> None:
        """CL-27: each server's tokens are stored under its resource and issuer, and reused there."""
        first, second = servers
        store, (_, _, again) = runs
        assert f"✓ reusing the registration stored for {first.issuer}" in again.stdout
        assert "✓ no authorization needed" in again.stdout
        assert {resource: list(by_issuer) for resource, by_issuer in read_store(store)["tokens"].items()} == {
            first.url: [first.issuer],
            second.url: [second.issuer],
        }


def test_a_server_that_moved_to_another_issuer_gets_a_new_registration(tmp_path: Path, fake: FakeStack) -> None:
    """CL-14, MCP Authorization Server Binding: the registration stored for the old issuer is not used with the new."""
    old = "https://old.example.com/as"
    store = tmp_path / "store.json"
    store.write_text(
        json.dumps({"version": 1, "registrations": {old: {"client_id": "old-client", "kind": "pre-registered"}}})
    )
    run = run_client(fake.mcp_url, store)
    assert "POST /as/register" in fake.requests, run.describe()
    assert read_store(store)["registrations"] == {
        old: {"client_id": "old-client", "token_endpoint_auth_method": "none", "kind": "pre-registered"},
        fake.issuer: {"client_id": "fake-client", "token_endpoint_auth_method": "none", "kind": "dynamic"},
    }
    assert "old-client" not in run.stdout


def test_a_repeated_server_url_runs_each_server_with_one_store(
    servers: tuple[McpServer, McpServer], tmp_path: Path
) -> None:
    """Issue 5: --server-url A --server-url B runs steps 1 to 7 for each; `servers` then lists both."""
    first, second = servers
    store = tmp_path / "store.json"
    run = run_client(first.url, store, "--headless", "--server-url", second.url)
    assert run.exit_code == 0, run.describe()
    steps = ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]
    assert run.steps == steps * 2
    listed = run_cli("servers", "--store", str(store))
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == [
        ["SERVER", "ISSUER"],
        [first.url, first.issuer],
        [second.url, second.issuer],
    ]
