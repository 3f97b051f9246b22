"""Fuzzing the MCP server's front door (issue 6): hostile Authorization headers and bodies, no 5xx.

Without a usable token every answer is an RFC 6750 §3 challenge; with a valid token, whatever
the body, the SDK answers it without failing.
"""

from collections.abc import Iterator

import httpx2
import pytest
from hypothesis import given

from mcp_authz.shared.www_authenticate import find_challenge
from scripts.stack import McpServer
from tests.hostile import FUZZ, assert_no_traceback, hostile_authorization, hostile_json_bytes, json_content_types
from tests.mcp_server.helpers import Signer

ACCEPT = "application/json, text/event-stream"
LIST_TOOLS = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}'

#: RFC 6750 §3.1, and none at all when no credentials came (§3).
BEARER_ERRORS = {None, "invalid_request", "invalid_token", "insufficient_scope"}


@pytest.fixture(name="http")
def _http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as client:
        yield client


class TestHostileRequests:
    @FUZZ
    @given(authorization=hostile_authorization)
    def test_a_hostile_authorization_header_gets_a_bearer_challenge(
        self, demo_mcp: McpServer, http: httpx2.Client, authorization: bytes
    ):
        """Issue 6, RFC 6750 §3: garbage credentials are a 400 or 401 Bearer challenge, never a 5xx."""
        headers = {"accept": ACCEPT, "content-type": "application/json", "authorization": authorization}

        response = http.post(demo_mcp.url, content=LIST_TOOLS, headers=headers)

        assert response.status_code in (400, 401), response.text[:300]
        challenge = find_challenge(response.headers["www-authenticate"], "Bearer")
        assert challenge is not None
        assert challenge.params.get("error") in BEARER_ERRORS
        assert_no_traceback(demo_mcp)

    @FUZZ
    @given(body=hostile_json_bytes, content_type=json_content_types)
    def test_a_hostile_body_with_a_valid_token_is_answered_without_a_server_error(
        self, demo_mcp: McpServer, http: httpx2.Client, signer: Signer, body: bytes, content_type: str
    ):
        """Issue 6: an authorized client sending malformed JSON-RPC gets a 2xx or 4xx answer, never a 5xx."""
        headers = {"accept": ACCEPT, "content-type": content_type, "authorization": f"Bearer {signer.token()}"}

        response = http.post(demo_mcp.url, content=body, headers=headers)

        assert response.status_code < 500, response.text[:300]
        assert_no_traceback(demo_mcp)

    def test_a_number_longer_than_python_parses_is_answered_without_a_server_error(
        self, demo_mcp: McpServer, http: httpx2.Client, signer: Signer
    ):
        """Issue 6: json.loads raises a plain ValueError past 4300 digits; the scope check must survive it."""
        headers = {"accept": ACCEPT, "content-type": "application/json", "authorization": f"Bearer {signer.token()}"}

        response = http.post(demo_mcp.url, content=b'{"id": ' + b"9" * 5000 + b"}", headers=headers)

        assert response.status_code < 500
        assert_no_traceback(demo_mcp)
