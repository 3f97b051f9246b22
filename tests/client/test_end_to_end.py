"""The client against the real demo stack: ``python client.py --headless``, the first run as a program of its own.

The authorization server runs in demo mode (it approves every request as its demo user) and the
reference MCP server trusts its ``demo`` issuer. Each test has its own store, so its own
registration.
"""

import os
import re
import stat
from pathlib import Path

import pytest

from scripts.stack import McpServer
from tests.client.running import Run, assert_tokens_masked, edit_store, read_store, run_client


def prm_url(mcp: McpServer) -> str:
    return f"http://localhost:{mcp.port}/.well-known/oauth-protected-resource/mcp"


def metadata_url(mcp: McpServer) -> str:
    root, _, path = mcp.issuer.partition("/mcp/")
    return f"{root}/.well-known/oauth-authorization-server/mcp/{path}"


def registration_url(mcp: McpServer) -> str:
    return f"{mcp.issuer.removesuffix('/mcp/demo')}/api/v1/authz/clients/register/mcp/demo/latest"


ALL_STEPS = ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]


@pytest.fixture(name="first", scope="module")
def _first(tmp_path_factory: pytest.TempPathFactory, demo_mcp: McpServer) -> tuple[Run, Path]:
    """One full run with an empty store, shared by the tests that only read its outcome.

    ``python client.py`` as a program of its own, as its users start it (the other runs are in-process).
    """
    store = tmp_path_factory.mktemp("first") / "state" / "store.json"
    return run_client(demo_mcp.url, store, "--headless", process=True), store


@pytest.fixture(name="authorized")
def _authorized(tmp_path: Path, demo_mcp: McpServer) -> Path:
    """A store after one successful run: a registration and live tokens, for this test alone."""
    store = tmp_path / "store.json"
    run = run_client(demo_mcp.url, store)
    assert run.exit_code == 0, run.describe()
    return store


class TestFullRun:
    """A first run goes through the seven steps of the tutorial (issue: the client's steps)."""

    def test_it_exits_zero_after_printing_every_step_in_order(self, first: tuple[Run, Path]) -> None:
        """The run prints steps 1 to 7 in order and succeeds."""
        run, _ = first
        assert run.exit_code == 0, run.describe()
        assert run.steps == ALL_STEPS
        assert run.stderr == ""

    def test_it_sends_the_requests_of_the_tutorial_in_order(self, first: tuple[Run, Path], demo_mcp: McpServer) -> None:
        """401, metadata, registration, authorization, code, three MCP calls, refresh, three MCP calls."""
        run, _ = first
        assert run.requests == [
            f"POST {demo_mcp.url}",
            f"GET {prm_url(demo_mcp)}",
            f"GET {metadata_url(demo_mcp)}",
            f"POST {registration_url(demo_mcp)}",
            f"GET {demo_mcp.issuer}/authorize",
            f"POST {demo_mcp.issuer}/token",
            *[f"POST {demo_mcp.url}"] * 3,  # server/discover, tools/list, tools/call whoami
            f"POST {demo_mcp.issuer}/token",
            *[f"POST {demo_mcp.url}"] * 3,
        ]

    def test_it_shows_the_wire_and_the_rules(self, first: tuple[Run, Path], demo_mcp: McpServer) -> None:
        """The 401 challenge, the requests of each step and the rules followed are printed."""
        run, _ = first
        port = demo_mcp.port
        expected = [
            f"→ POST http://localhost:{port}/mcp",
            "← 401 Unauthorized",
            f'WWW-Authenticate: Bearer resource_metadata="http://localhost:{port}/.well-known/'
            f'oauth-protected-resource/mcp", scope="mcp:read"',
            f"→ GET http://localhost:{port}/.well-known/oauth-protected-resource/mcp",
            "rule [CL-03, RFC 9728 §3.3]",
            "rule [CL-06, RFC 8414 §3.3]",
            '"application_type": "native"',
            "rule [CL-23, RFC 9207 §2.4] iss is exactly the issuer (promised by the metadata): accepted",
            "grant_type=authorization_code",
            f"resource=http://localhost:{port}/mcp",
            "✓ tools: whoami, list_notes, add_note",
            "grant_type=refresh_token",
            "rule [CL-29, OAuth 2.1 §4.3.1] the refresh token rotated",
        ]
        assert [line for line in expected if line not in run.stdout] == []

    def test_whoami_is_called_before_and_after_the_refresh(self, first: tuple[Run, Path], demo_mcp: McpServer) -> None:
        """whoami answers twice, for the demo user: with the first and with the refreshed token."""
        run, _ = first
        assert run.stdout.count("✓ whoami:") == 2
        assert len(re.findall(r'"subject": "usr_[\w-]+"', run.stdout)) == 2
        assert run.stdout.count(f'"audience": "{demo_mcp.url}"') == 2

    def test_the_store_is_private_and_keyed_by_issuer_and_resource(
        self, first: tuple[Run, Path], demo_mcp: McpServer
    ) -> None:
        """CL-14, CL-27, CL-28: mode 0600; the registration under the issuer, tokens under (resource, issuer)."""
        _, store = first
        document = read_store(store)
        assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
        assert list(document["registrations"]) == [demo_mcp.issuer]
        assert list(document["tokens"]) == [demo_mcp.url]
        held = document["tokens"][demo_mcp.url][demo_mcp.issuer]
        assert held["client_id"] == document["registrations"][demo_mcp.issuer]["client_id"]
        assert held["scope"] == "mcp:read"
        assert sorted(held) == ["access_token", "client_id", "expires_at", "refresh_token", "scope", "token_type"]
        assert held["token_type"] == "DPoP"  # RFC 9449: the demo issuer offers DPoP, so the client uses it
        assert document["registrations"][demo_mcp.issuer]["dpop_jwk"]["kty"] == "EC"

    def test_no_secret_is_printed_whole(self, first: tuple[Run, Path], demo_mcp: McpServer) -> None:
        """CL-28: tokens and codes appear only masked, as their first 6 characters and "…"."""
        run, store = first
        assert_tokens_masked(run.output, store, demo_mcp.url, demo_mcp.issuer)
        assert re.findall(r"\b(?:code|code_verifier|refresh_token)=[\w-]{7,}", run.output) == []
        assert re.findall(r"Authorization: Bearer [\w.-]{7,}", run.output) == []


class TestSecondRun:
    """CL-14, CL-27: a later run reuses the stored registration and tokens."""

    def test_it_neither_registers_nor_authorizes(self, authorized: Path, demo_mcp: McpServer) -> None:
        """Steps 3 to 5 say they reuse what is stored; no registration or authorization request is sent."""
        run = run_client(demo_mcp.url, authorized)
        assert run.exit_code == 0, run.describe()
        assert run.steps == ALL_STEPS
        assert f"✓ reusing the registration stored for {demo_mcp.issuer}" in run.stdout
        assert "✓ no authorization needed: the access token stored for" in run.stdout
        assert run.requests == [
            f"POST {demo_mcp.url}",
            f"GET {prm_url(demo_mcp)}",
            f"GET {metadata_url(demo_mcp)}",
            *[f"POST {demo_mcp.url}"] * 3,
            f"POST {demo_mcp.issuer}/token",
            *[f"POST {demo_mcp.url}"] * 3,
        ]


class TestExpiredToken:
    """CL-29: an expired stored access token is refreshed before it is used."""

    def test_it_is_refreshed_instead_of_authorizing(self, authorized: Path, demo_mcp: McpServer) -> None:
        """Step 5 refreshes, naming the resource; nothing is authorized; the rotated token is stored."""
        edit_store(authorized, lambda doc: doc["tokens"][demo_mcp.url][demo_mcp.issuer].update(expires_at=0))
        before = read_store(authorized)["tokens"][demo_mcp.url][demo_mcp.issuer]["refresh_token"]
        run = run_client(demo_mcp.url, authorized)
        assert run.exit_code == 0, run.describe()
        assert "✓ no authorization needed: the stored access token is over, but a refresh token is stored" in run.stdout
        assert f"GET {demo_mcp.issuer}/authorize" not in run.requests
        assert run.requests.count(f"POST {demo_mcp.issuer}/token") == 2  # step 5, then step 7
        assert run.stdout.count("grant_type=refresh_token") == 2
        assert read_store(authorized)["tokens"][demo_mcp.url][demo_mcp.issuer]["refresh_token"] != before

    def test_a_failed_refresh_falls_back_to_a_new_authorization(self, authorized: Path, demo_mcp: McpServer) -> None:
        """A refresh token the server refuses leads to a new authorization, and the run succeeds."""
        edit_store(
            authorized,
            lambda doc: doc["tokens"][demo_mcp.url][demo_mcp.issuer].update(expires_at=0, refresh_token="not-a-token"),
        )
        run = run_client(demo_mcp.url, authorized)
        assert run.exit_code == 0, run.describe()
        assert "the refresh failed: the token endpoint refused the request: invalid_grant" in run.stdout
        assert "rule [CL-29, OAuth 2.1 §4.3] when the refresh fails, run the authorization again" in run.stdout
        assert "grant_type=authorization_code" in run.stdout

    def test_a_refused_stored_token_is_renewed_once(self, authorized: Path, demo_mcp: McpServer) -> None:
        """A stored access token the MCP server answers 401 to is refreshed, and the call retried.

        CL-09: step 1 runs again first; the metadata names the same issuer, so nothing else changes.
        """
        edit_store(authorized, lambda doc: doc["tokens"][demo_mcp.url][demo_mcp.issuer].update(access_token="x.y.z"))
        run = run_client(demo_mcp.url, authorized)
        assert run.exit_code == 0, run.describe()
        assert "the MCP server does not accept the access token: the access token is not a JWT" in run.stdout
        assert run.steps == [
            *ALL_STEPS[:6],
            "1 discover",
            "3 register",
            "4 authorize",
            "5 token",
            "6 call",
            "7 refresh",
        ]


class TestInvalidClient:
    """RFC 6749 §5.2: an invalid_client at the token endpoint makes the client register again, once."""

    def test_a_forgotten_client_registers_again(self, authorized: Path, demo_mcp: McpServer) -> None:
        """The registration the server does not know is replaced by a new one, and the run succeeds."""

        def forget(doc: dict) -> None:
            doc["registrations"][demo_mcp.issuer]["client_id"] = "forgotten"
            doc["tokens"][demo_mcp.url][demo_mcp.issuer].update(client_id="forgotten", expires_at=0)

        edit_store(authorized, forget)
        run = run_client(demo_mcp.url, authorized)
        assert run.exit_code == 0, run.describe()
        assert "the token endpoint does not accept client forgotten: invalid_client" in run.stdout
        assert run.steps == [*ALL_STEPS[:5], "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]
        assert read_store(authorized)["registrations"][demo_mcp.issuer]["client_id"] != "forgotten"
