"""``python client.py servers`` and ``python client.py logout --server-url URL`` (issue 5; CL-28, RFC 7009).

``servers`` lists what the store holds without a secret; ``logout`` revokes a server's tokens at
its authorization server and forgets them.
"""

from pathlib import Path

import httpx2

from mcp_authz.client.listing import servers
from mcp_authz.client.registration import Registration
from mcp_authz.client.store import Store
from mcp_authz.client.tokens import Tokens
from scripts.stack import McpServer
from tests.client.running import read_store, run_cli, run_client

ISSUER = "https://as.example/demo"
RESOURCE = "https://mcp.example/mcp"


def a_store(path: Path) -> Store:
    store = Store(path)
    store.save_registration(
        Registration(ISSUER, "client-1", "client_secret_basic", "secret-xyz", kind="pre-registered")
    )
    store.save_registration(Registration("https://as2.example", "client-2"))
    store.save_tokens(
        Tokens(RESOURCE, ISSUER, "client-1", "at-secret", "rt-secret", expires_at=1_000_900, scope="mcp:read")
    )
    return store


class TestServers:
    def test_one_line_per_server_and_per_registration_without_tokens(self, tmp_path: Path) -> None:
        """The server, issuer, client ID and kind, expiry and scope; a registration without tokens too."""
        assert servers(a_store(tmp_path / "store.json"), now=1_000_000) == [
            "SERVER                   ISSUER                   CLIENT ID                  EXPIRES   SCOPE",
            "https://mcp.example/mcp  https://as.example/demo  client-1 (pre-registered)  in 900 s  mcp:read",
            "(no tokens)              https://as2.example      client-2 (dynamic)         -         -",
        ]

    def test_an_empty_store_says_so(self, tmp_path: Path) -> None:
        """Nothing stored: one line naming the store."""
        assert servers(Store(tmp_path / "store.json"), now=0) == [f"nothing is stored in {tmp_path / 'store.json'}"]

    def test_the_command_shows_no_secret(self, tmp_path: Path) -> None:
        """CL-28: `python client.py servers` prints neither tokens nor the client secret."""
        a_store(tmp_path / "store.json")
        run = run_cli("servers", "--store", str(tmp_path / "store.json"))
        assert run.exit_code == 0, run.describe()
        assert "client-1 (pre-registered)" in run.stdout
        assert [secret for secret in ("at-secret", "rt-secret", "secret-xyz") if secret in run.output] == []


def test_logout_revokes_at_the_authorization_server_and_forgets(tmp_path: Path, demo_mcp: McpServer) -> None:
    """RFC 7009 §2.1: after logout the refresh token is refused by the token endpoint, and the store holds no tokens."""
    store = tmp_path / "store.json"
    assert run_client(demo_mcp.url, store).exit_code == 0
    held = read_store(store)["tokens"][demo_mcp.url][demo_mcp.issuer]
    run = run_cli("logout", "--server-url", demo_mcp.url, "--store", str(store), "--verbose")
    assert run.exit_code == 0, run.describe()
    assert run.steps == ["1 discover", "2 metadata", "8 revoke"]
    assert read_store(store)["tokens"] == {}
    assert "progress" not in read_store(store)
    form = {"grant_type": "refresh_token", "refresh_token": held["refresh_token"], "client_id": held["client_id"]}
    refused = httpx2.post(f"{demo_mcp.issuer}/token", data=form | {"resource": demo_mcp.url})
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


def test_logout_prints_what_it_did_not_the_metadata(tmp_path: Path, demo_mcp: McpServer) -> None:
    """Issue 17: ``logout`` says which token it revoked where, which tokens it forgot and which registration it
    kept, one line each; no steps, no requests, no metadata."""
    store = tmp_path / "store.json"
    assert run_client(demo_mcp.url, store).exit_code == 0
    held = read_store(store)["tokens"][demo_mcp.url][demo_mcp.issuer]
    run = run_cli("logout", "--server-url", demo_mcp.url, "--store", str(store))
    assert run.exit_code == 0, run.describe()
    assert run.stdout.splitlines() == [
        f"revoked the refresh token at {demo_mcp.issuer}/revoke (RFC 7009)",
        f"forgot the tokens for {demo_mcp.url} from {demo_mcp.issuer} (client_id {held['client_id']})",
        f"kept the registration {held['client_id']} at {demo_mcp.issuer}: it names this client, not your grant",
    ]

    again = run_cli("logout", "--server-url", demo_mcp.url, "--store", str(store))
    assert again.stdout.splitlines()[0] == (
        f"no tokens for {demo_mcp.url} from {demo_mcp.issuer} were stored: nothing revoked"
    ), again.describe()
