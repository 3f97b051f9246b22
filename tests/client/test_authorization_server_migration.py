"""The MCP server moves to another authorization server during a run (CL-09, CL-14, SEP-2352).

The fake MCP server refuses every token; once it has seen one, its protected resource metadata
names a second issuer. The client reads the metadata again after the 401, registers with the
second authorization server and authorizes there, never sending the first server's client to
it. The fake refuses the new token too, so the run ends with exit code 8 after that one move.
"""

from pathlib import Path

from tests.client.fake_stack import FakeStack
from tests.client.running import read_store, run_client


def test_a_new_authorization_server_is_adopted_with_a_registration_of_its_own(tmp_path: Path, fake: FakeStack) -> None:
    """CL-09: the 401's metadata is fetched again and its new issuer used; CL-14: a registration per issuer."""
    fake.reset(moves_to_second_issuer=True)
    store = tmp_path / "store.json"
    run = run_client(fake.mcp_url, store, "--headless")
    assert run.exit_code == 8, run.describe()
    assert run.steps == [
        "1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call",
        "1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call",
    ]  # fmt: skip
    assert [request for request in fake.requests if request.startswith("POST /as")] == [
        "POST /as/register", "POST /as/token", "POST /as2/register", "POST /as2/token",
    ]  # fmt: skip
    assert [request["client_id"] for request in fake.token_requests] == ["fake-client", "fake-client-2"]
    assert f"the MCP server now names {fake.second_issuer}, not {fake.issuer}" in run.stdout
    registrations = read_store(store)["registrations"]
    assert (registrations[fake.issuer]["client_id"], registrations[fake.second_issuer]["client_id"]) == (
        "fake-client",
        "fake-client-2",
    )


def test_a_pre_registered_client_is_not_taken_to_the_new_server(tmp_path: Path, fake: FakeStack) -> None:
    """CL-14: --client-id was given for the first server; after the move the run stops (exit 4) instead."""
    fake.reset(moves_to_second_issuer=True)
    run = run_client(fake.mcp_url, tmp_path / "store.json", "--headless", "--client-id", "pre-client")
    assert run.exit_code == 4, run.describe()
    assert not [request for request in fake.requests if request.startswith(("POST /as2", "GET /as2"))]
    assert run.stderr == (
        f"error: the MCP server moved from {fake.issuer} to {fake.second_issuer}: the pre-registered --client-id "
        f"pre-client belongs to {fake.issuer} and is not sent to another server (CL-14)\n"
    )


def test_the_same_server_refusing_a_new_token_is_not_asked_again(tmp_path: Path, fake: FakeStack) -> None:
    """CL-09: the metadata is read again, names the same issuer, and a token just issued is not renewed."""
    run = run_client(fake.mcp_url, tmp_path / "store.json", "--headless")
    assert run.exit_code == 8, run.describe()
    assert run.steps == ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "1 discover"]
    assert [request for request in fake.requests if request.startswith("POST /as")] == [
        "POST /as/register",
        "POST /as/token",
    ]
