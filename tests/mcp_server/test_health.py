"""Issue 17 (Ops surface): the MCP server's /health probe, and the resource URL it names at start."""

import httpx2

from scripts.stack import McpServer


def test_health_answers_ok_without_a_token(demo_mcp: McpServer) -> None:
    """Issue 17: /health is 200 {"status": "ok"}, uncached, needing no bearer token (RFC 6750 guards /mcp only)."""
    response = httpx2.get(f"http://localhost:{demo_mcp.port}/health", timeout=10)

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["cache-control"] == "no-store"
    assert "www-authenticate" not in response.headers


def test_the_server_logs_its_resource_url_at_start(demo_mcp: McpServer) -> None:
    """Issue 17: uvicorn prints 127.0.0.1; the server names the resource URL clients use, and its issuer."""
    line = f"MCP server: resource {demo_mcp.url} (its authorization server: {demo_mcp.issuer})"

    assert line in demo_mcp.program.log()
