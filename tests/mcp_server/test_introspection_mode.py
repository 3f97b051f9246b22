"""Introspection mode (RFC 7662, checklist RS-13, AS-58): how soon a revoked grant stops working."""

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from scripts.stack import AuthorizationServer, McpServer, free_port, start_mcp_server
from tests.authorization_server.flows import Issuer, journey_of, steps
from tests.mcp_server.helpers import bearer_params, post


@pytest.fixture(name="demo", scope="module")
def _demo(demo_as: AuthorizationServer, demo_mcp: McpServer) -> Iterator[Issuer]:
    """The demo issuer, whose tokens both MCP servers below accept."""
    with httpx2.Client(follow_redirects=False, timeout=10) as http:
        registration = f"{demo_as.url}/api/v1/authz/clients/register/mcp/demo/latest"
        yield Issuer(http, demo_as.issuer_for("demo"), registration, resource=demo_mcp.url)


def introspecting_mcp_server(workdir: Path, demo_mcp: McpServer, secret: str) -> McpServer:
    """Another process of the demo MCP server (same resource, same issuer) in introspection mode."""
    return start_mcp_server(
        workdir,
        free_port(),
        demo_mcp.issuer,
        "--resource",
        demo_mcp.url,
        f"--introspection-client-secret={secret}",  # "=": a secret may start with "-"
    )


@pytest.fixture(name="introspecting", scope="module")
def _introspecting(
    tmp_path_factory: pytest.TempPathFactory, demo_mcp: McpServer, demo_secret: str
) -> Iterator[McpServer]:
    server = introspecting_mcp_server(tmp_path_factory.mktemp("introspecting"), demo_mcp, demo_secret)
    yield server
    server.program.stop()


def test_a_live_token_is_accepted_in_introspection_mode(demo: Issuer, introspecting: McpServer) -> None:
    """RS-13, RFC 7662 §2.2: the issuer says active, for this resource: the call goes through."""
    token = demo.tokens(demo.register())["access_token"]

    assert post(introspecting, token=token).status_code == 200


def test_a_revoked_grant_is_refused_at_once_in_introspection_mode_and_accepted_by_default(
    demo: Issuer, demo_mcp: McpServer, introspecting: McpServer
) -> None:
    """AS-58, RS-13: after the refresh token is revoked, only the default mode still takes the access token."""
    client = demo.register()
    tokens = demo.tokens(client)
    assert post(demo_mcp, token=tokens["access_token"]).status_code == 200

    assert demo.revoke(client, tokens["refresh_token"]).status_code == 200

    default = post(demo_mcp, token=tokens["access_token"])
    refused = post(introspecting, token=tokens["access_token"])
    assert default.status_code == 200
    assert (refused.status_code, bearer_params(refused)["error"]) == (401, "invalid_token")


def test_wrong_credentials_fail_closed(
    tmp_path_factory: pytest.TempPathFactory, demo: Issuer, demo_mcp: McpServer
) -> None:
    """RS-13: when the issuer refuses to answer, no token is accepted (503, not a silent pass)."""
    server = introspecting_mcp_server(tmp_path_factory.mktemp("wrong_secret"), demo_mcp, "not-the-secret")
    try:
        response = post(server, token=demo.tokens(demo.register())["access_token"])
    finally:
        server.program.stop()

    assert (response.status_code, response.json()["error"]) == (503, "temporarily_unavailable")


def test_issue_17_the_journey_records_the_mcp_servers_first_check_of_the_token(
    demo_as: AuthorizationServer, demo: Issuer, introspecting: McpServer
) -> None:
    """Issue 17: calls through an MCP server in introspection mode leave one `token_introspected` step per token."""
    client = demo.register()
    token = demo.tokens(client)["access_token"]

    answers = [post(introspecting, token=token).status_code for _ in range(3)]

    journey = journey_of(demo_as.db, client.client_id)
    assert answers == [200, 200, 200]
    assert steps(demo_as.db, journey["id"])[-2:] == ["code_redeemed", "token_introspected"]
