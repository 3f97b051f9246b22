"""Protected resource metadata (RFC 9728) of the reference MCP server."""

from urllib.parse import urlsplit

import httpx2

from scripts.stack import McpServer


class TestProtectedResourceMetadata:
    def test_the_document_names_the_resource_and_its_issuer_exactly(self, demo_mcp: McpServer) -> None:
        """RS-01, RS-02, RS-05, RFC 9728 §2: resource and issuer are the exact strings clients compare."""
        url = f"http://localhost:{demo_mcp.port}/.well-known/oauth-protected-resource/mcp"
        response = httpx2.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "resource": f"http://localhost:{demo_mcp.port}/mcp",
            "authorization_servers": [demo_mcp.issuer],
            "scopes_supported": ["mcp:read"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Demo MCP server",
        }

    def test_the_root_well_known_url_serves_the_same_document(self, demo_mcp: McpServer) -> None:
        """RS-03, RFC 9728 §3.1: the path-inserted and the root well-known URLs agree."""
        base = f"http://localhost:{demo_mcp.port}/.well-known/oauth-protected-resource"
        assert httpx2.get(base).json() == httpx2.get(base + "/mcp").json()

    def test_offline_access_is_not_advertised(self, demo_mcp: McpServer) -> None:
        """RS-04, MCP Refresh Tokens: the resource lists only the scopes for basic use."""
        url = f"http://localhost:{demo_mcp.port}/.well-known/oauth-protected-resource/mcp"
        assert "offline_access" not in httpx2.get(url).json()["scopes_supported"]

    def test_the_listed_issuer_publishes_metadata_naming_itself_byte_for_byte(self, demo_mcp: McpServer) -> None:
        """AS-04, RS-01, RFC 8414 §3.3, USER-NEEDS theme 12: the issuer string in authorization_servers, made
        into its path-inserted metadata URL, yields a document whose issuer is that very string."""
        document = httpx2.get(f"http://localhost:{demo_mcp.port}/.well-known/oauth-protected-resource/mcp").json()
        [issuer] = document["authorization_servers"]
        parts = urlsplit(issuer)

        metadata = httpx2.get(f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path}")

        assert metadata.status_code == 200
        assert metadata.json()["issuer"] == issuer
