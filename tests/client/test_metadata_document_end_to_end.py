"""The client with ``--client-metadata-url`` against the real demo stack (CL-10, CL-11, AS-56).

The client's metadata document is served on loopback by a real HTTP server; the authorization
server runs in demo mode, which turns ``--allow-loopback-client-metadata`` on. The client never
registers: the server fetches the document when the client first names it as its ``client_id``.
"""

from pathlib import Path

from scripts.stack import AuthorizationServer, McpServer
from tests.authorization_server.flows import journey_of
from tests.client.running import read_store, run_client
from tests.documents import DocumentServer


def test_a_document_client_runs_the_whole_flow_without_registering(
    tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer, documents: DocumentServer
) -> None:
    """CL-10 (the order: a metadata document before DCR), AS-56: no /register call, the server fetches
    the document, the code redeems with client_id + code_verifier, and the tool call works."""
    path = "/client-e2e/client.json"
    url = documents.publish(path, client_name="Reference client", redirect_uris=["http://127.0.0.1/callback"])

    run = run_client(demo_mcp.url, tmp_path / "store.json", "--headless", "--client-metadata-url", url)

    assert run.exit_code == 0, run.describe()
    assert not any("register" in request for request in run.requests), run.requests
    assert f"using the client ID metadata document {url} as client_id" in run.stdout
    assert f"GET {demo_mcp.issuer}/authorize" in run.requests
    assert f"POST {demo_mcp.issuer}/token" in run.requests
    assert run.stdout.count("✓ whoami:") == 2
    assert documents.hits[path] >= 1
    assert journey_of(demo_as.db, url)["status"] == "active"
    assert read_store(tmp_path / "store.json")["registrations"][demo_mcp.issuer]["client_id"] == url
