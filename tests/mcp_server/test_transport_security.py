"""The MCP endpoint's transport rules: Origin and Host checks, CORS for browser clients, sessions
bound to their caller, the resource compared as a URI, and tokens kept out of the log (MCP
Streamable HTTP, Security; MCP security best practices; checklist RS-17 to RS-20)."""

from typing import Any

import httpx2
import pytest

from scripts.stack import McpServer
from tests.mcp_server.helpers import INITIALIZE, TOOLS_LIST, Signer, bearer_params, post


def call(mcp: McpServer, token: str, body: dict[str, Any] = INITIALIZE, **headers: str) -> httpx2.Response:
    """POST a JSON-RPC message to the MCP endpoint with a bearer token and extra headers."""
    sent = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}", **headers}
    return httpx2.post(mcp.url, json=body, headers=sent)


class TestOriginAndHost:
    @pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example", "null"])
    def test_a_request_from_a_foreign_origin_is_forbidden(self, demo_mcp: McpServer, signer: Signer, origin: str):
        """RS-19, MCP Streamable HTTP (Security): an invalid Origin gets 403, even with a valid token."""
        response = call(demo_mcp, signer.token(), Origin=origin)

        assert response.status_code == 403

    def test_a_request_from_a_loopback_origin_is_served(self, demo_mcp: McpServer, signer: Signer):
        """RS-19: a page on the user's own machine (the MCP Inspector, say) may call the local server."""
        response = call(demo_mcp, signer.token(), Origin=f"http://localhost:{demo_mcp.port}")

        assert response.status_code == 200

    def test_a_request_for_another_host_is_refused(self, demo_mcp: McpServer, signer: Signer):
        """RS-19, DNS rebinding: a Host header that is not this loopback server is refused."""
        response = call(demo_mcp, signer.token(), Host="evil.example")

        assert response.status_code == 421


class TestCorsForBrowserClients:
    """USER-NEEDS theme 7: the MCP Inspector and web hosts call the server with fetch from another origin."""

    INSPECTOR = "http://localhost:6274"

    def test_a_preflight_allows_the_mcp_headers_without_a_token(self, demo_mcp: McpServer):
        """Fetch standard (CORS preflight): answered before bearer auth, naming the transport's headers."""
        requested = "authorization, content-type, mcp-protocol-version, mcp-session-id, last-event-id"
        headers = {
            "Origin": self.INSPECTOR,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": requested,
        }

        response = httpx2.options(demo_mcp.url, headers=headers)

        assert response.status_code == 200
        assert "POST" in response.headers["access-control-allow-methods"]
        allowed = {name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")}
        assert set(requested.split(", ")) <= allowed

    def test_a_browser_reads_the_challenge_and_the_metadata_it_names(self, demo_mcp: McpServer):
        """RS-06, RFC 9728 §5.1: the 401's WWW-Authenticate is exposed, and the metadata document is readable."""
        challenged = httpx2.post(demo_mcp.url, json=INITIALIZE, headers={"Origin": self.INSPECTOR})
        metadata_url = bearer_params(challenged)["resource_metadata"]

        metadata = httpx2.get(metadata_url, headers={"Origin": self.INSPECTOR})

        assert challenged.status_code == 401
        assert challenged.headers["access-control-allow-origin"] == "*"
        assert "www-authenticate" in challenged.headers["access-control-expose-headers"].lower()
        assert metadata.headers["access-control-allow-origin"] == "*"

    def test_a_browser_reads_the_session_id_it_is_given(self, demo_mcp: McpServer, signer: Signer):
        """MCP Streamable HTTP (Session Management): the client must echo Mcp-Session-Id, so it must see it."""
        response = call(demo_mcp, signer.token(), Origin=self.INSPECTOR)

        assert response.status_code == 200
        assert "mcp-session-id" in response.headers["access-control-expose-headers"].lower()


class TestSessions:
    def test_a_session_opened_by_one_user_is_not_found_for_another(self, demo_mcp: McpServer, signer: Signer):
        """RS-20, MCP-SBP Session Hijacking: a session id works only with the principal that opened it."""
        alice = signer.token(sub="usr_alice")
        opened = call(demo_mcp, alice)
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]

        by_mallory = call(demo_mcp, signer.token(sub="usr_mallory"), TOOLS_LIST, **{"Mcp-Session-Id": session})
        by_alice = call(demo_mcp, signer.token(sub="usr_alice"), TOOLS_LIST, **{"Mcp-Session-Id": session})

        assert by_mallory.status_code == 404
        assert by_alice.status_code == 200

    def test_every_request_of_a_session_needs_its_token(self, demo_mcp: McpServer, signer: Signer):
        """RS-20, MCP Authorization (Access Token Usage): a session id is never a credential of its own."""
        opened = call(demo_mcp, signer.token())
        session = opened.headers["mcp-session-id"]

        headers = {"Accept": "application/json, text/event-stream", "Mcp-Session-Id": session}
        response = httpx2.post(demo_mcp.url, json=TOOLS_LIST, headers=headers)

        assert response.status_code == 401


class TestAudience:
    @pytest.mark.parametrize("spelling", ["http://LOCALHOST:{port}/mcp", "HTTP://localhost:{port}/mcp"])
    def test_an_audience_with_an_upper_case_scheme_or_host_is_this_resource(
        self, demo_mcp: McpServer, signer: Signer, spelling: str
    ):
        """RS-18, MCP Canonical Server URI: scheme and host compare case-insensitively (RFC 3986 §6.2.2.1)."""
        response = call(demo_mcp, signer.token(aud=spelling.format(port=demo_mcp.port)))

        assert response.status_code == 200

    def test_an_audience_with_another_path_case_is_another_resource(self, demo_mcp: McpServer, signer: Signer):
        """RS-11, RS-18: the path is case-sensitive, so /MCP is not this resource."""
        response = call(demo_mcp, signer.token(aud=f"http://localhost:{demo_mcp.port}/MCP"))

        assert (response.status_code, bearer_params(response)["error"]) == (401, "invalid_token")


class TestLog:
    def test_no_bearer_token_reaches_the_log(self, demo_mcp: McpServer, signer: Signer):
        """RS-17, MCP-S Token Theft: accepted, refused and hijacking tokens are never written to the log."""
        accepted = signer.token()
        expired = signer.token(exp=1_000_000_000, iat=999_999_000)
        foreign_session = signer.token(sub="usr_other")
        session = call(demo_mcp, accepted).headers["mcp-session-id"]

        call(demo_mcp, accepted, TOOLS_LIST, **{"Mcp-Session-Id": session})
        post(demo_mcp, token=expired)
        call(demo_mcp, foreign_session, TOOLS_LIST, **{"Mcp-Session-Id": session})
        call(demo_mcp, accepted, Origin="https://evil.example")

        log = demo_mcp.program.log()
        assert "Invalid Origin header: https://evil.example" in log  # the log does record these requests
        leaked = [token for token in (accepted, expired, foreign_session) if token.split(".")[2] in log]
        assert leaked == []
