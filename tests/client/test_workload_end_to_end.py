"""Workload identity federation (MCP SEP-1933, a draft; issue 15) through the three programs.

The session's demo stack (``demo_as``, ``demo_mcp``) is the MCP server and its authorization server.
The test plays the workload's platform: it signs the workload's JWT with a key whose JWK Set it serves
on loopback (``documents``), and the operator trusts it (``workload-issuers add --jwks-uri``) with a
rule naming the demo MCP server. ``client.py --grant workload --assertion-file`` then presents the JWT
with the jwt-bearer grant (RFC 7523 §2.1) and calls the tools: no registration, no browser. The demo
server offers DPoP (ES256), so the client sends a proof and the token is DPoP-bound (RFC 9449 §5), unless
``--no-dpop``.
"""

from pathlib import Path

from mcp_authz.client.dpop import DpopKey
from scripts.stack import AuthorizationServer, McpServer
from tests.authorization_server.flows import claims, rows, steps
from tests.authorization_server.test_private_key_jwt import Signer
from tests.authorization_server.test_workload_identity import workload_jwt
from tests.client.running import read_store, run_client
from tests.documents import Answer, DocumentServer

ISSUER = "https://e2e-workloads.example.com"
SUBJECT = "system:serviceaccount:agents:reporter"


def test_a_workload_calls_a_tool_with_its_platforms_jwt(
    tmp_path: Path, demo_as: AuthorizationServer, demo_mcp: McpServer, documents: DocumentServer
) -> None:
    """SEP-1933 steps 1-12: the AS checks the JWT with the issuer's JWK Set (fetched through the SSRF-safe
    fetcher), the rule gives the MCP server, the token's audience is the MCP server and its subject the
    workload's; no refresh token; the journey names the issuer and subject; the tool runs. The workload has no
    client_id (SEP-1933): the client sends none and stores a registration of kind workload-identity. RFC 9449
    §5, §7.1: the jwt-bearer request carries a proof of the stored key, the token is bound to it (``cnf.jkt``)
    and the MCP server takes it with ``Authorization: DPoP``; with ``--no-dpop`` it is a bearer token."""
    platform = Signer.new()
    jwks = documents.serve(f"/e2e-workloads/{platform.kid}/jwks", Answer.json(platform.jwks))
    demo_as.cli(
        "workload-issuers", "add", "--name", "e2e-cluster", "--issuer", ISSUER, "--jwks-uri", jwks,
        "--rule", f"sub={SUBJECT} -> demo scopes=mcp:read",
    )  # fmt: skip
    assertion = workload_jwt(platform, demo_mcp.issuer, iss=ISSUER, sub=SUBJECT)
    token_file = tmp_path / "token"
    token_file.write_text(assertion)
    store = tmp_path / "store.json"

    run = run_client(
        demo_mcp.url, store, "--headless", "--grant", "workload", "--assertion-file", str(token_file),
    )  # fmt: skip

    assert run.exit_code == 0, run.describe()
    assert not any("/authorize" in request or "/register" in request for request in run.requests), run.requests
    assert SUBJECT in run.stdout  # whoami: the MCP server took the token
    held = read_store(store)["tokens"][demo_mcp.url][demo_mcp.issuer]
    token = claims(held["access_token"])
    assert token["aud"] == demo_mcp.url and token["sub"] == SUBJECT and token["client_id"].startswith("wl_")
    assert "refresh_token" not in held
    registration = read_store(store)["registrations"][demo_mcp.issuer]
    assert (registration["kind"], registration["client_id"]) == ("workload-identity", "")
    assert held["token_type"] == "DPoP" and token["cnf"] == {"jkt": DpopKey(registration["dpop_jwk"]).jkt}
    assert assertion not in run.output  # the workload's JWT is never printed
    [flow] = rows(demo_as.db, "SELECT journey_id FROM mcp_authorization_flows WHERE client_id = ?", token["client_id"])
    assert steps(demo_as.db, flow["journey_id"]) == ["workload_identity_granted"]
    assert "workload of e2e-cluster" in demo_as.cli("clients", "list").stdout
    again = run_client(demo_mcp.url, store, "--headless", "--grant", "workload", "--assertion-file", str(token_file))
    assert again.exit_code == 0, again.describe()  # the stored workload registration and token are read back
    assert SUBJECT in again.stdout
    token_file.write_text(workload_jwt(platform, demo_mcp.issuer, iss=ISSUER, sub=SUBJECT))
    bearer_store = tmp_path / "bearer.json"
    bearer = run_client(
        demo_mcp.url,
        bearer_store,
        "--headless",
        "--grant",
        "workload",
        "--assertion-file",
        str(token_file),
        "--no-dpop",
    )
    assert bearer.exit_code == 0, bearer.describe()
    unbound = read_store(bearer_store)["tokens"][demo_mcp.url][demo_mcp.issuer]
    assert unbound["token_type"] == "Bearer" and "cnf" not in claims(unbound["access_token"])
