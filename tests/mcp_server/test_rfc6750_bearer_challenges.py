"""How the MCP server answers requests without a usable token (RFC 6750 §3, RFC 9728 §5.1, MCP)."""

import httpx2
import jwt
import pytest

from scripts.stack import McpServer
from tests.mcp_server.helpers import INITIALIZE, Signer, bearer_params, post, tool_call


class TestNoToken:
    def test_a_request_without_a_token_is_challenged_with_metadata_and_scope(self, demo_mcp: McpServer) -> None:
        """RS-06, RS-07, RFC 9728 §5.1: 401 names the metadata and the scope, and no error code."""
        response = post(demo_mcp)
        assert response.status_code == 401
        assert bearer_params(response) == {
            "resource_metadata": f"http://localhost:{demo_mcp.port}/.well-known/oauth-protected-resource/mcp",
            "scope": "mcp:read",
        }

    def test_a_token_in_the_query_string_is_ignored(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RS-10, OAuth 2.1 §5.1: tokens are read from the Authorization header only."""
        response = post(demo_mcp, url=f"{demo_mcp.url}?access_token={signer.token()}")
        assert response.status_code == 401
        assert "error" not in bearer_params(response)

    @pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
    def test_the_scheme_name_is_case_insensitive(self, demo_mcp: McpServer, signer: Signer, scheme: str) -> None:
        """RS-10, RFC 9110 §11.1: auth-scheme names are case-insensitive, so any spelling of Bearer is read."""
        headers = {"Accept": "application/json, text/event-stream", "Authorization": f"{scheme} {signer.token()}"}
        response = httpx2.post(demo_mcp.url, json=INITIALIZE, headers=headers)
        assert response.status_code == 200

    def test_two_authorization_headers_are_a_bad_request(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RS-09, RFC 6750 §3.1: more than one way of sending a token is invalid_request (400)."""
        token = signer.token()
        headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
        response = httpx2.post(demo_mcp.url, json=INITIALIZE, headers=headers)
        assert response.status_code == 400
        assert bearer_params(response)["error"] == "invalid_request"

    def test_a_preflight_request_is_not_challenged(self, demo_mcp: McpServer) -> None:
        """USER-NEEDS 7: an OPTIONS preflight carries no credentials and must not get a 401."""
        preflight = {"Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST"}
        assert httpx2.options(demo_mcp.url, headers=preflight).status_code == 200


class TestInvalidTokens:
    @pytest.mark.parametrize(
        ("change", "description"),
        [
            ({"exp": 1_000_000_000, "iat": 999_999_000}, "the access token has expired"),
            ({"iss": "http://localhost:1/mcp/demo"}, "the access token was issued by another authorization server"),
            ({"aud": "http://localhost:1/mcp"}, "the access token was issued for another resource (RFC 8707)"),
            ({"sub": None}, 'the access token is not valid: Token is missing the "sub" claim'),
            ({"client_id": None}, 'the access token is not valid: Token is missing the "client_id" claim'),
        ],
        ids=["expired", "other-issuer", "other-audience", "no-subject", "no-client-id"],
    )
    def test_a_token_that_breaks_one_rule_is_refused(
        self, demo_mcp: McpServer, signer: Signer, change: dict[str, object], description: str
    ) -> None:
        """RS-11, RS-12, RS-14, RFC 9068 §4: signed by the right key yet wrong in one claim: 401 invalid_token."""
        response = post(demo_mcp, token=signer.token(**change))
        assert response.status_code == 401
        params = bearer_params(response)
        assert (params["error"], params["error_description"]) == ("invalid_token", description)
        assert params["scope"] == "mcp:read"

    def test_a_token_typed_as_a_plain_jwt_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RS-12, RFC 9068 §4: the typ header must be at+jwt, so an ID token cannot pass as an access token."""
        response = post(demo_mcp, token=signer.token(headers={"typ": "JWT"}))
        assert (response.status_code, bearer_params(response)["error"]) == (401, "invalid_token")

    def test_a_tampered_token_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RS-12: changing the payload of a signed token breaks its signature."""
        header, _, signature = signer.token().split(".")
        forged_payload = signer.token(scope="mcp:read mcp:write").split(".")[1]
        response = post(demo_mcp, token=f"{header}.{forged_payload}.{signature}")
        assert response.status_code == 401
        assert bearer_params(response)["error_description"] == (
            "the access token is not valid: Signature verification failed"
        )

    def test_an_unsigned_token_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RS-12, RFC 8725 §2.1: alg none is never accepted."""
        unsigned = jwt.encode(signer.claims(), None, algorithm="none", headers={"kid": signer.kid, "typ": "at+jwt"})
        response = post(demo_mcp, token=unsigned)
        assert response.status_code == 401
        assert bearer_params(response)["error_description"] == "the token's signature algorithm is not accepted"

    def test_a_token_signed_with_an_unknown_key_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RS-14: only keys the issuer publishes verify tokens."""
        response = post(demo_mcp, token=signer.token(headers={"kid": "not-a-published-key"}))
        assert bearer_params(response)["error_description"] == (
            "the token is signed with a key the issuer does not publish"
        )

    def test_garbage_is_refused_as_not_a_jwt(self, demo_mcp: McpServer) -> None:
        """RS-07: anything unusable is 401 invalid_token, never a 500."""
        response = post(demo_mcp, token="not-a-token")
        assert (response.status_code, bearer_params(response)["error"]) == (401, "invalid_token")


class TestInsufficientScope:
    def test_a_tool_that_needs_more_scope_is_refused_with_the_scope_it_needs(
        self, demo_mcp: McpServer, signer: Signer
    ) -> None:
        """RS-08, MCP Scope Challenge Handling: 403 insufficient_scope naming every scope the call needs."""
        response = post(demo_mcp, tool_call("add_note", {"text": "hello"}), token=signer.token(scope="mcp:read"))
        assert response.status_code == 403
        params = bearer_params(response)
        assert (params["error"], params["scope"]) == ("insufficient_scope", "mcp:write")
        assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")

    def test_a_token_without_the_basic_scope_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RS-08: every call needs the basic scope the metadata advertises."""
        response = post(demo_mcp, token=signer.token(scope="other:scope"))
        assert (response.status_code, bearer_params(response)["scope"]) == (403, "mcp:read")

    def test_a_broader_scope_implies_the_narrower_one(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RS-15, MCP Step-Up Authorization: mcp:write implies mcp:read, so the call passes the scope check."""
        response = post(demo_mcp, token=signer.token(scope="mcp:write"))
        assert response.status_code == 200
