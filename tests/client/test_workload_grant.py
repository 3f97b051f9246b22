"""``client.py --grant workload`` (SEP-1933, a draft): the workload's JWT at the jwt-bearer grant (RFC 7523 §2.1).

Against the fake stack (tests/client/fake_stack.py), which records the token requests: the JWT is
read from a file or an environment variable and sent as ``assertion`` with the MCP server as
``resource``; it is never printed; a refused grant stops the run without a retry or another grant,
as SEP-1933 asks (and the conformance scenario ``auth/wif-jwt-bearer`` checks).
"""

from pathlib import Path

import pytest

from tests.client.fake_stack import FakeStack
from tests.client.running import run_client

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
WORKLOAD_JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2lnbmF0dXJl"


def test_the_jwt_from_a_file_is_the_assertion_and_never_printed(fake: FakeStack, tmp_path: Path) -> None:
    """RFC 7523 §2.1, SEP-1933: grant_type jwt-bearer, assertion = the file's JWT, the client_id, resource; no
    registration request, no authorization request."""
    jwt_file = tmp_path / "token"
    jwt_file.write_text(WORKLOAD_JWT + "\n")

    run = run_client(
        fake.mcp_url, tmp_path / "store.json", "--headless", "--grant", "workload", "--client-id", "wl",
        "--assertion-file", str(jwt_file),
    )  # fmt: skip

    request = fake.token_requests[0]
    assert (request["grant_type"], request["assertion"], request["client_id"]) == (JWT_BEARER, WORKLOAD_JWT, "wl")
    assert request["resource"] == fake.mcp_url
    assert not any("/authorize" in line or "/register" in line for line in fake.requests), fake.requests
    assert WORKLOAD_JWT not in run.output


def test_a_refused_grant_is_neither_retried_nor_replaced(
    fake: FakeStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEP-1933: invalid_grant stops the run (exit code 7) after one token request, no other grant tried."""
    fake.reset(token_error="invalid_grant")
    monkeypatch.setenv("WORKLOAD_JWT", WORKLOAD_JWT)

    run = run_client(
        fake.mcp_url, tmp_path / "store.json", "--headless", "--grant", "workload", "--client-id", "wl",
        "--assertion-env", "WORKLOAD_JWT",
    )  # fmt: skip

    assert run.exit_code == 7, run.describe()
    assert [request["grant_type"] for request in fake.token_requests] == [JWT_BEARER]


def test_without_an_assertion_the_command_line_is_wrong(fake: FakeStack, tmp_path: Path) -> None:
    """The command line: --grant workload needs --client-id and --assertion-file or --assertion-env (exit code 2)."""
    run = run_client(fake.mcp_url, tmp_path / "store.json", "--headless", "--grant", "workload", "--client-id", "wl")
    assert run.exit_code == 2 and "--assertion-file" in run.output
    assert fake.token_requests == []
