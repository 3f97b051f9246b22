"""Enterprise-managed authorization (SEP-990) through the three programs and two authorization servers.

One instance of this project is the enterprise identity provider (in-process, demo mode: its demo
user signs in without a page); the session's demo stack (``demo_as``, ``demo_mcp``) is the MCP
server and its authorization server. The IdP's operator allows a client ID-JAGs for the demo issuer
(``clients allow-id-jag``); the resource AS's operator trusts the IdP for the demo MCP server
(``mcp-servers trust-idp``, keys from the IdP's ``jwks_uri``). ``client.py --grant enterprise``
then exchanges the user's access token at the IdP for an ID-JAG (RFC 8693), presents it with the
jwt-bearer grant (RFC 7523 §2.1) and calls the tools: no browser, no consent page. The demo server
offers DPoP (ES256): the jwt-bearer request carries a proof and the token is DPoP-bound (RFC 9449 §5).
"""

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from mcp_authz.client.dpop import DpopKey
from scripts.stack import AuthorizationServer, McpServer, start_authorization_server
from tests.authorization_server.flows import Issuer, claims, rows, steps
from tests.authorization_server.test_jwt_bearer_id_jag import confidential
from tests.client.running import read_store, run_client

SECRET_ENV = "ENTERPRISE_IDP_CLIENT_SECRET"
#: The IdP's own demo MCP server (never started): what the user's access token there is for.
IDP_DEMO_RESOURCE = "http://localhost:8000/mcp"


@pytest.fixture(name="idp", scope="module")
def _idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthorizationServer]:
    """The enterprise IdP: a second authorization server of this project, on a thread of the test process."""
    server = start_authorization_server(tmp_path_factory.mktemp("idp"), in_process=True)
    yield server
    server.program.stop()


def test_enterprise_grant_calls_a_tool_with_an_id_jag_from_another_instance(
    tmp_path: Path,
    idp: AuthorizationServer,
    demo_as: AuthorizationServer,
    demo_mcp: McpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SEP-990 end to end; RFC 8693 at the IdP, RFC 7523 §2.1 at the resource AS: the token is for the
    MCP server (aud), its subject the IdP's user; both journeys record their half; the tool runs. RFC 9449 §5,
    §7.1: the token is bound to the client's stored DPoP key and the MCP server takes it as a DPoP token."""
    with httpx2.Client(follow_redirects=False) as http:
        at_idp = Issuer(http, idp.url, f"{idp.url}/register", IDP_DEMO_RESOURCE)
        app_at_idp = confidential(at_idp.registration_endpoint)
        user_tokens = at_idp.tokens(app_at_idp)  # the demo user signed in at the IdP
        app_at_resource_as = confidential(f"{demo_as.url}/api/v1/authz/clients/register/mcp/demo/latest")
    idp.cli(
        "clients", "allow-id-jag", app_at_idp.client_id,
        "--audience", demo_mcp.issuer, "--audience-client-id", app_at_resource_as.client_id,
    )  # fmt: skip
    demo_as.cli(
        "mcp-servers", "trust-idp", "demo", "--idp", idp.url, "--jwks-uri", f"{idp.url}/jwks.json",
        "--allow-client", app_at_resource_as.client_id,
    )  # fmt: skip
    subject_token = tmp_path / "user_token"
    subject_token.write_text(user_tokens["access_token"])
    monkeypatch.setenv(SECRET_ENV, app_at_idp.client_secret or "")
    store = tmp_path / "store.json"

    run = run_client(
        demo_mcp.url, store, "--headless", "--grant", "enterprise",
        "--idp-token-endpoint", f"{idp.url}/token", "--idp-client-id", app_at_idp.client_id,
        "--idp-client-secret-env", SECRET_ENV,
        "--subject-token-file", str(subject_token), "--subject-token-type", "access_token",
        "--client-id", app_at_resource_as.client_id, "--client-secret", app_at_resource_as.client_secret or "",
    )  # fmt: skip

    assert run.exit_code == 0, run.describe()
    assert not any("/authorize" in request for request in run.requests), run.requests
    assert f'"client_id": "{app_at_resource_as.client_id}"' in run.stdout  # whoami: the MCP server took it
    held = read_store(store)["tokens"][demo_mcp.url][demo_mcp.issuer]
    token = claims(held["access_token"])
    assert token["aud"] == demo_mcp.url and token["sub"] == claims(user_tokens["access_token"])["sub"]
    assert "refresh_token" not in held
    registration = read_store(store)["registrations"][demo_mcp.issuer]
    assert held["token_type"] == "DPoP" and token["cnf"] == {"jkt": DpopKey(registration["dpop_jwk"]).jkt}
    assert user_tokens["access_token"] not in run.output  # the user's token is never printed
    [journey] = [
        row["journey_id"]
        for row in rows(demo_as.db, "SELECT journey_id FROM mcp_authorization_flows WHERE client_id = ?",
                        app_at_resource_as.client_id)
        if "identity_assertion_granted" in steps(demo_as.db, row["journey_id"])
    ]  # fmt: skip
    assert journey
    idp_journey = claims(user_tokens["access_token"])["grant_id"]
    assert "id_jag_issued" in steps(idp.db, idp_journey)
