"""The client with DPoP end to end (RFC 9449, issue 15): the three programs, each asking for nonces.

The authorization server (in-process, demo mode, ``--dpop-nonce``) and the reference MCP server
(``--dpop-nonce``) both want a nonce, so the client's first proof at each is answered
``use_dpop_nonce`` and it tries once more with the nonce it was given (§8, §9). Its tokens are
bound to its registration's key (``cnf.jkt``, §6.1), which the store keeps for the next run.
"""

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from mcp_authz.client.dpop import DpopKey
from scripts.stack import McpServer, free_port, start_authorization_server, start_mcp_server
from tests.client.running import read_store, run_client

ALL_STEPS = ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]


@pytest.fixture(name="nonce_stack", scope="module")
def _nonce_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpServer]:
    """An authorization server and an MCP server that both require DPoP nonces."""
    workdir, port = tmp_path_factory.mktemp("dpop_stack"), free_port()
    authorization_server = start_authorization_server(workdir, "--dpop-nonce", mcp_port=port, in_process=True)
    mcp = start_mcp_server(workdir, port, authorization_server.issuer_for("demo"), "--dpop-nonce")
    yield mcp
    mcp.program.stop()
    authorization_server.program.stop()


def test_a_full_run_with_dpop_and_nonces(tmp_path: Path, nonce_stack: McpServer) -> None:
    """RFC 9449 §5, §7.1, §8, §9: proofs at both servers, one retry each for a nonce, DPoP-bound tokens."""
    store = tmp_path / "store.json"

    run = run_client(nonce_stack.url, store)

    assert run.exit_code == 0, run.describe()
    assert run.steps == ALL_STEPS
    document = read_store(store)
    held = document["tokens"][nonce_stack.url][nonce_stack.issuer]
    key = DpopKey(document["registrations"][nonce_stack.issuer]["dpop_jwk"])
    assert held["token_type"] == "DPoP"
    assert jwt.decode(held["access_token"], options={"verify_signature": False})["cnf"] == {"jkt": key.jkt}
    token = f"POST {nonce_stack.issuer}/token"
    assert run.requests.count(token) == 4  # the code and the refresh, each asked once for a nonce
    # discovery, then per session its first request twice (401 use_dpop_nonce, §9; then with the nonce) and two more
    assert run.requests.count(f"POST {nonce_stack.url}") == 1 + 2 * (2 + 2)
    assert run.stdout.count("← 401 Unauthorized") == 3  # discovery, and each session's first request
    assert "RFC 9449 §5, §7" in run.stdout

    again = run_client(nonce_stack.url, store)  # the key kept in the store: the stored tokens still work
    assert (again.exit_code, again.steps) == (0, ALL_STEPS), again.describe()


def test_no_dpop_keeps_bearer_tokens(tmp_path: Path, nonce_stack: McpServer) -> None:
    """Issue 15: ``--no-dpop`` sends no proof even where DPoP is offered; the tokens are bearer tokens."""
    store = tmp_path / "store.json"

    run = run_client(nonce_stack.url, store, "--headless", "--no-dpop")

    assert run.exit_code == 0, run.describe()
    document = read_store(store)
    assert document["tokens"][nonce_stack.url][nonce_stack.issuer]["token_type"] == "Bearer"
    assert "dpop_jwk" not in document["registrations"][nonce_stack.issuer]
