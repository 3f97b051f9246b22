"""``--step STEP`` (client/stepwise.py): each step alone, in order, with what the next needs stored.

Against the real demo stack (whose authorization server has no revocation endpoint yet), and the
fake stack for RFC 7009 revocation.
"""

import re
import time
from pathlib import Path

import httpx2
import pytest

from scripts.stack import McpServer
from tests.client.fake_stack import FakeStack
from tests.client.running import Run, edit_store, read_store, run_client

STEPS = ["discover", "metadata", "register", "authorize", "token", "call", "refresh"]


def step(server_url: str, store: Path, name: str) -> Run:
    return run_client(server_url, store, "--headless", "--step", name)


@pytest.fixture(name="stepped", scope="module")
def _stepped(tmp_path_factory: pytest.TempPathFactory, demo_mcp: McpServer) -> tuple[list[Run], Path]:
    """Steps 1 to 7, each run alone, in order, on one store."""
    store = tmp_path_factory.mktemp("stepped") / "store.json"
    return [step(demo_mcp.url, store, name) for name in STEPS], store


class TestInOrder:
    """Issue 5: each step runs alone and stores what the next one needs."""

    def test_each_step_prints_its_own_heading_and_succeeds(self, stepped: tuple[list[Run], Path]) -> None:
        """Every run exits 0 and prints its step only."""
        runs, _ = stepped
        assert [(run.exit_code, run.steps) for run in runs] == [
            (0, ["1 discover"]),
            (0, ["2 metadata"]),
            (0, ["3 register"]),
            (0, ["4 authorize"]),
            (0, ["5 token"]),
            (0, ["6 call"]),
            (0, ["7 refresh"]),
        ], "\n".join(run.describe() for run in runs)

    def test_the_end_state_is_the_one_of_a_full_run(
        self, stepped: tuple[list[Run], Path], demo_mcp: McpServer, tmp_path: Path
    ) -> None:
        """One registration under the issuer, tokens under (resource, issuer), the same fields as a full run."""
        _, store = stepped
        full = tmp_path / "full.json"
        assert run_client(demo_mcp.url, full).exit_code == 0
        stepwise, whole = read_store(store), read_store(full)
        assert list(stepwise["registrations"]) == list(whole["registrations"]) == [demo_mcp.issuer]
        held = stepwise["tokens"][demo_mcp.url][demo_mcp.issuer]
        assert sorted(held) == sorted(whole["tokens"][demo_mcp.url][demo_mcp.issuer])
        assert held["scope"] == "mcp:read"
        assert held["client_id"] == stepwise["registrations"][demo_mcp.issuer]["client_id"]
        assert sorted(stepwise["progress"][demo_mcp.url]) == sorted(whole["progress"][demo_mcp.url])

    def test_the_code_is_redeemed_by_the_token_step(self, stepped: tuple[list[Run], Path], demo_mcp: McpServer) -> None:
        """CL-20, CL-24: authorize stores the code; token sends it with the verifier, then forgets it."""
        runs, store = stepped
        assert runs[3].requests == [f"GET {demo_mcp.issuer}/authorize"]
        assert runs[4].requests == [f"POST {demo_mcp.issuer}/token"]
        assert "grant_type=authorization_code" in runs[4].stdout
        assert "authorize" not in read_store(store)["progress"][demo_mcp.url]

    def test_call_and_refresh_use_the_stored_tokens(self, stepped: tuple[list[Run], Path], demo_mcp: McpServer) -> None:
        """Step 6 calls whoami; step 7 refreshes, then calls whoami with the new token."""
        runs, _ = stepped
        assert runs[5].stdout.count("✓ whoami:") == 1
        assert runs[6].requests[0] == f"POST {demo_mcp.issuer}/token"
        assert runs[6].stdout.count("✓ whoami:") == 1


class TestOutOfOrder:
    """A step whose inputs are missing names the step to run first, in one line, exit code 10."""

    def test_metadata_before_discover(self, demo_mcp: McpServer, tmp_path: Path) -> None:
        """Nothing discovered yet: run discover first; nothing is sent."""
        run = step(demo_mcp.url, tmp_path / "store.json", "metadata")
        assert run.exit_code == 10
        assert run.stderr == f"error: nothing is discovered for {demo_mcp.url}: run --step discover first\n"
        assert run.requests == []

    def test_token_twice(self, stepped: tuple[list[Run], Path], demo_mcp: McpServer) -> None:
        """A code is used once (OAuth 2.1 §4.1.2): a second token step asks for a new authorization."""
        _, store = stepped
        run = step(demo_mcp.url, store, "token")
        assert run.exit_code == 10
        assert run.stderr == "error: no authorization code is stored: run --step authorize first\n"

    def test_a_code_too_old_says_codes_live_60_seconds(
        self, stepped: tuple[list[Run], Path], demo_mcp: McpServer, tmp_path: Path
    ) -> None:
        """A refused code older than the demo's 60 s lifetime says so and names authorize."""
        store = tmp_path / "store.json"
        store.write_text(stepped[1].read_text())
        client_id = read_store(store)["registrations"][demo_mcp.issuer]["client_id"]
        old_code = {
            "issuer": demo_mcp.issuer,
            "resource": demo_mcp.url,
            "client_id": client_id,
            "redirect_uri": "http://127.0.0.1:8888/callback",
            "scope": ["mcp:read"],
            "state": "s" * 43,
            "code_verifier": "v" * 43,
            "code": "a-code-of-two-minutes-ago",
            "received_at": int(time.time()) - 120,
        }
        edit_store(store, lambda doc: doc["progress"][demo_mcp.url].update(authorize=old_code))
        run = step(demo_mcp.url, store, "token")
        assert run.exit_code == 7
        assert "the token endpoint refused the request: invalid_grant" in run.stderr
        assert re.search(r"the code is 12\d s old, and the demo authorization server's codes live 60 s: ", run.stderr)
        assert "run --step authorize again, then --step token at once" in run.stderr


def hold_fake_tokens(fake: FakeStack, store: Path) -> None:
    """A store that went through steps 1-2 against the fake stack and holds tokens from it."""
    assert step(fake.mcp_url, store, "discover").exit_code == 0
    assert step(fake.mcp_url, store, "metadata").exit_code == 0

    def hold_tokens(doc: dict) -> None:
        doc["registrations"] = {fake.issuer: {"client_id": "fake-client", "token_endpoint_auth_method": "none"}}
        tokens = {"client_id": "fake-client", "access_token": "fake-access-token", "refresh_token": "fake-rt-42"}
        doc["tokens"] = {fake.mcp_url: {fake.issuer: tokens}}

    edit_store(store, hold_tokens)


class TestRevoke:
    """Step 8: RFC 7009 where the metadata names a revocation endpoint; the tokens forgotten either way."""

    def test_the_refresh_token_is_dead_at_the_authorization_server_after_revoke(
        self, demo_mcp: McpServer, tmp_path: Path
    ) -> None:
        """RFC 7009 §2.1: the client revokes at the issuer's revocation endpoint, and the grant ends there."""
        store = tmp_path / "store.json"
        assert run_client(demo_mcp.url, store).exit_code == 0
        held = read_store(store)["tokens"][demo_mcp.url][demo_mcp.issuer]

        run = step(demo_mcp.url, store, "revoke")

        assert run.exit_code == 0, run.describe()
        assert run.requests == [f"POST {demo_mcp.issuer}/revoke"]
        assert read_store(store)["tokens"] == {}
        refused = httpx2.post(
            f"{demo_mcp.issuer}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": held["refresh_token"],
                "client_id": held["client_id"],
            },
        )
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")

    def test_without_a_revocation_endpoint_the_tokens_are_forgotten(self, fake: FakeStack, tmp_path: Path) -> None:
        """A server that offers no revocation: the client says so, sends nothing, forgets the tokens."""
        fake.reset()
        store = tmp_path / "store.json"
        hold_fake_tokens(fake, store)

        run = step(fake.mcp_url, store, "revoke")

        assert run.exit_code == 0, run.describe()
        assert run.steps == ["8 revoke"]
        assert run.requests == []
        assert f"{fake.issuer} offers no revocation: its metadata has no revocation_endpoint" in run.stdout
        assert read_store(store)["tokens"] == {}
        after = step(fake.mcp_url, store, "call")
        assert (after.exit_code, after.stderr) == (
            10,
            f"error: no tokens are stored for {fake.mcp_url}: run --step token first\n",
        )

    def test_the_refresh_token_is_revoked_at_the_revocation_endpoint(self, fake: FakeStack, tmp_path: Path) -> None:
        """RFC 7009 §2.1: POST token and token_type_hint=refresh_token, with the client's id."""
        fake.reset(revocation=True)
        store = tmp_path / "store.json"
        hold_fake_tokens(fake, store)

        run = step(fake.mcp_url, store, "revoke")

        assert run.exit_code == 0, run.describe()
        assert fake.revoked == [{"token": "fake-rt-42", "token_type_hint": "refresh_token", "client_id": "fake-client"}]
        assert f"✓ the refresh token is revoked at {fake.issuer}/revoke" in run.stdout
        assert "fake-rt-42" not in run.stdout
        assert read_store(store)["tokens"] == {}
