"""Discovery (client/discovery.py): the URLs in the spec's order, and what is accepted from them.

HTTP goes to an ``httpx2.MockTransport`` that records the URLs asked for.
"""

import io
import json
import re

import httpx2
import pytest

from mcp_authz.client.discovery import (
    Challenge,
    ask_without_token,
    authorization_server_metadata_urls,
    choose_issuer,
    covers,
    fetch_authorization_server_metadata,
    fetch_protected_resource_metadata,
    legacy_issuer,
    protected_resource_metadata_urls,
)
from mcp_authz.client.errors import AuthorizationServerError, McpServerError
from mcp_authz.client.tutorial import Tutorial
from mcp_authz.client.urls import UrlPolicy
from mcp_authz.shared.metadata import ProtectedResourceMetadata

pytestmark = pytest.mark.anyio

SERVER = "https://mcp.example.com/api/mcp"
ISSUER = "https://auth.example.com/tenant1"
HTTPS_ONLY = UrlPolicy(loopback_http=False)


def resource_metadata(resource: str) -> dict[str, object]:
    return {"resource": resource, "authorization_servers": [ISSUER]}


def metadata(issuer: str, **fields: object) -> dict[str, object]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        **fields,
    }


class Server:
    """Answers from a table of URL → (status, headers, JSON body); 404 for the rest."""

    def __init__(self, answers: dict[str, tuple[int, dict[str, str], object]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.asked.append(f"{request.method} {request.url}")
        status, headers, body = self.answers.get(str(request.url), (404, {}, {}))
        return httpx2.Response(status, headers=headers, content=json.dumps(body).encode())

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))


@pytest.fixture(name="tutorial")
def _tutorial() -> Tutorial:
    return Tutorial(io.StringIO())


class TestProtectedResourceMetadataUrls:
    """CL-02, SPEC-CHECKLIST §5.1, RFC 9728 §3.1."""

    def test_the_challenges_url_alone(self) -> None:
        """Given in the header, it is used as given, and the well-known URLs are not probed."""
        challenge = Challenge(resource_metadata="https://mcp.example.com/prm.json")
        assert protected_resource_metadata_urls(SERVER, challenge) == ["https://mcp.example.com/prm.json"]

    def test_path_inserted_then_root(self) -> None:
        """Without a header URL: the path-inserted well-known URL, then the root one."""
        assert protected_resource_metadata_urls(SERVER, Challenge()) == [
            "https://mcp.example.com/.well-known/oauth-protected-resource/api/mcp",
            "https://mcp.example.com/.well-known/oauth-protected-resource",
        ]

    def test_the_query_is_kept_in_the_path_inserted_url(self) -> None:
        """RFC 9728 §3.1: the server URL's query stays on the path-inserted URL."""
        assert protected_resource_metadata_urls("https://mcp.example.com/mcp?x=1", Challenge())[0] == (
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp?x=1"
        )

    @pytest.mark.parametrize("server", ["https://mcp.example.com", "https://mcp.example.com/"])
    def test_only_the_root_without_a_path(self, server: str) -> None:
        """A server URL without a path has only the root well-known URL."""
        assert protected_resource_metadata_urls(server, Challenge()) == [
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        ]


class TestAuthorizationServerMetadataUrls:
    """CL-05, SPEC-CHECKLIST §5.1: RFC 8414 §3.1 and OpenID Connect Discovery §4."""

    def test_an_issuer_with_a_path(self) -> None:
        """Three URLs, the terminating slash of the issuer removed first."""
        assert authorization_server_metadata_urls("https://auth.example.com/tenant1/") == [
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
            "https://auth.example.com/.well-known/openid-configuration/tenant1",
            "https://auth.example.com/tenant1/.well-known/openid-configuration",
        ]

    def test_an_issuer_without_a_path(self) -> None:
        """Two URLs: RFC 8414, then OpenID Connect."""
        assert authorization_server_metadata_urls("https://auth.example.com") == [
            "https://auth.example.com/.well-known/oauth-authorization-server",
            "https://auth.example.com/.well-known/openid-configuration",
        ]


class TestAskWithoutToken:
    """CL-01: the 401's WWW-Authenticate is parsed robustly."""

    async def test_the_probe_is_a_complete_2026_07_28_request(self, tutorial: Tutorial) -> None:
        """CL-31, SEP-2575: ``server/discover`` with the version header, and ``_meta`` naming version and client."""
        sent: list[httpx2.Request] = []

        def answer(request: httpx2.Request) -> httpx2.Response:
            sent.append(request)
            return httpx2.Response(401, headers={"WWW-Authenticate": 'Bearer scope="mcp:read"'})

        async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as http:
            await ask_without_token(http, SERVER, tutorial)
        [request] = sent
        assert (request.headers["MCP-Protocol-Version"], request.headers["Mcp-Method"]) == (
            "2026-07-28",
            "server/discover",
        )
        assert json.loads(request.content)["params"]["_meta"] == {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "mcp-authorization-tutorial-client", "version": "0.1.0"},
        }

    async def test_the_bearer_challenge_among_several(self, tutorial: Tutorial) -> None:
        """Another scheme first, quoted strings with commas, an error parameter."""
        header = (
            'Basic realm="a, b", Bearer error="invalid_token", '
            'resource_metadata="https://mcp.example.com/prm", scope="mcp:read mcp:write"'
        )
        server = Server({SERVER: (401, {"WWW-Authenticate": header}, {})})
        async with server.client() as http:
            challenge = await ask_without_token(http, SERVER, tutorial)
        assert challenge == Challenge("https://mcp.example.com/prm", ("mcp:read", "mcp:write"))

    async def test_a_dpop_challenge_names_the_metadata_too(self, tutorial: Tutorial) -> None:
        """RFC 9449 §7.1 with RFC 9728 §5.1: a server taking DPoP tokens only challenges with DPoP."""
        header = 'DPoP algs="ES256", resource_metadata="https://mcp.example.com/prm", scope="mcp:read"'
        server = Server({SERVER: (401, {"WWW-Authenticate": header}, {})})
        async with server.client() as http:
            challenge = await ask_without_token(http, SERVER, tutorial)
        assert challenge == Challenge("https://mcp.example.com/prm", ("mcp:read",))

    @pytest.mark.parametrize(
        ("status", "body"),
        [
            (200, {"jsonrpc": "2.0", "id": 1, "result": {}}),
            (400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": "No valid session ID"}}),
            (400, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32022, "message": "Unsupported protocol version"}}),
        ],
    )
    async def test_a_server_answering_without_a_401_asks_for_no_authorization(
        self, tutorial: Tutorial, status: int, body: object
    ) -> None:
        """MCP Authorization §1 (authorization is optional), issue 15: a success, or a JSON-RPC error from a
        2025 server that knows no server/discover or a version to negotiate, is an answer without a 401."""
        server = Server({SERVER: (status, {}, body)})
        async with server.client() as http:
            assert await ask_without_token(http, SERVER, tutorial) is None

    async def test_another_status_without_a_json_rpc_body_is_not_an_mcp_endpoint(self, tutorial: Tutorial) -> None:
        """A 404 page is not an MCP server's answer: the URL is wrong, and the error line says so."""
        server = Server({})
        async with server.client() as http:
            with pytest.raises(McpServerError, match="answered 404 Not Found, not 401 with a Bearer challenge"):
                await ask_without_token(http, SERVER, tutorial)


class TestMarch2025Fallback:
    """MCP 2025-03-26 Authorization §2.3 (issue 15, "Real clients"): no protected resource metadata, so the
    authorization server is at the MCP server's origin, with its metadata or else the default endpoints."""

    async def test_no_metadata_anywhere_is_a_2025_03_26_server(self, tutorial: Tutorial) -> None:
        """Every well-known URL answers 404 and the challenge names none: ``None``, the caller falls back."""
        server = Server({})
        async with server.client() as http:
            assert await fetch_protected_resource_metadata(http, SERVER, Challenge(), HTTPS_ONLY, tutorial) is None

    async def test_a_named_metadata_url_that_fails_is_still_an_error(self, tutorial: Tutorial) -> None:
        """RFC 9728 §5.1: a challenge that names its metadata is a 2025-06-18 server; no fallback."""
        server = Server({})
        async with server.client() as http:
            with pytest.raises(McpServerError, match="no usable protected resource metadata"):
                await fetch_protected_resource_metadata(
                    http, SERVER, Challenge("https://mcp.example.com/prm"), HTTPS_ONLY, tutorial
                )

    def test_the_authorization_base_url_is_the_origin(self) -> None:
        """2025-03-26 §2.3.2: the MCP server's URL with its path discarded."""
        assert legacy_issuer("https://mcp.example.com/api/mcp") == "https://mcp.example.com"

    async def test_metadata_at_the_origin_is_used(self, tutorial: Tutorial) -> None:
        """2025-03-26 §2.3.2: RFC 8414 metadata at the origin, endpoints wherever it says."""
        origin = "https://mcp.example.com"
        document = metadata(origin, authorization_endpoint=f"{origin}/oauth/authorize")
        server = Server({f"{origin}/.well-known/oauth-authorization-server": (200, {}, document)})
        async with server.client() as http:
            found = await fetch_authorization_server_metadata(http, origin, HTTPS_ONLY, tutorial, legacy=True)
        assert found.authorization_endpoint == f"{origin}/oauth/authorize"

    async def test_without_metadata_the_default_endpoints(self, tutorial: Tutorial) -> None:
        """2025-03-26 §2.3.3 Fallbacks: /authorize, /token, /register at the origin."""
        origin = "https://mcp.example.com"
        async with Server({}).client() as http:
            found = await fetch_authorization_server_metadata(http, origin, HTTPS_ONLY, tutorial, legacy=True)
        assert (found.authorization_endpoint, found.token_endpoint, found.registration_endpoint) == (
            f"{origin}/authorize",
            f"{origin}/token",
            f"{origin}/register",
        )

    async def test_a_named_issuer_without_metadata_gets_no_defaults(self, tutorial: Tutorial) -> None:
        """RFC 8414 §3: an issuer named by protected resource metadata must publish its metadata."""
        async with Server({}).client() as http:
            with pytest.raises(AuthorizationServerError, match="no usable metadata"):
                await fetch_authorization_server_metadata(http, ISSUER, HTTPS_ONLY, tutorial)


class TestFetchProtectedResourceMetadata:
    """CL-02, CL-03."""

    async def test_a_failed_header_url_is_not_followed_by_the_root(self, tutorial: Tutorial) -> None:
        """With a URL from the header, nothing else is probed."""
        server = Server({})
        challenge = Challenge(resource_metadata="https://mcp.example.com/prm")
        async with server.client() as http:
            with pytest.raises(McpServerError, match="no usable protected resource metadata"):
                await fetch_protected_resource_metadata(http, SERVER, challenge, HTTPS_ONLY, tutorial)
        assert server.asked == ["GET https://mcp.example.com/prm"]

    async def test_a_document_for_another_resource_is_skipped(self, tutorial: Tutorial) -> None:
        """RFC 9728 §3.3: the path-inserted document is for another resource, the root one is ours."""
        server = Server(
            {
                "https://mcp.example.com/.well-known/oauth-protected-resource/api/mcp": (
                    200, {}, resource_metadata("https://evil.example.com/api/mcp")
                ),
                "https://mcp.example.com/.well-known/oauth-protected-resource": (200, {}, resource_metadata(SERVER)),
            }
        )  # fmt: skip
        async with server.client() as http:
            found = await fetch_protected_resource_metadata(http, SERVER, Challenge(), HTTPS_ONLY, tutorial)
        assert (found.resource, found.authorization_servers) == (SERVER, (ISSUER,))

    async def test_a_metadata_url_into_the_cloud_metadata_service_is_never_fetched(self, tutorial: Tutorial) -> None:
        """CL-08, RFC 9728 §7.7: resource_metadata="http://169.254.169.254/latest/meta-data" sends no request."""
        server = Server({})
        challenge = Challenge(resource_metadata="http://169.254.169.254/latest/meta-data")
        async with server.client() as http:
            with pytest.raises(McpServerError, match="is not fetched"):
                await fetch_protected_resource_metadata(http, SERVER, challenge, HTTPS_ONLY, tutorial)
        assert server.asked == []

    async def test_a_root_document_for_the_whole_origin_is_used(self, tutorial: Tutorial) -> None:
        """CL-03 (CONF ``auth/metadata-var2``): the root document names the origin, a prefix of the server URL."""
        server = Server(
            {"https://mcp.example.com/.well-known/oauth-protected-resource": (
                200, {}, resource_metadata("https://mcp.example.com")
            )}
        )  # fmt: skip
        async with server.client() as http:
            found = await fetch_protected_resource_metadata(http, SERVER, Challenge(), HTTPS_ONLY, tutorial)
        assert found.resource == "https://mcp.example.com"


@pytest.mark.parametrize(
    ("resource", "used"),
    [
        (SERVER, True),
        ("HTTPS://MCP.example.com/api/mcp", True),
        ("https://mcp.example.com", True),
        ("https://mcp.example.com/", True),
        ("https://mcp.example.com/api", True),
        ("https://mcp.example.com/api/", True),
        ("https://mcp.example.com/ap", False),
        ("https://mcp.example.com/api/mcp/tools", False),
        ("https://mcp.example.com/other", False),
        ("https://mcp.example.com?tenant=1", False),
        ("http://mcp.example.com/api/mcp", False),
        ("https://mcp.example.com:8443/api/mcp", False),
        ("https://evil.example.com/api/mcp", False),
        ("https://mcp.example.com.evil.example/api/mcp", False),
        ("not a url", False),
    ],
)
def test_metadata_covers_its_resource_and_the_paths_below_it(resource: str, used: bool) -> None:
    """CL-03, RFC 9728 §3.3: the same resource, or a path prefix on its origin (CONF ``auth/resource-mismatch``)."""
    assert covers(resource, SERVER) is used


class TestFetchAuthorizationServerMetadata:
    """CL-05, CL-06, CL-07, CL-08."""

    async def test_the_first_document_for_the_exact_issuer_is_used(self, tutorial: Tutorial) -> None:
        """A document naming the issuer with a trailing slash is skipped; the OIDC one after it is used."""
        server = Server(
            {
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1": (
                    200, {}, metadata(ISSUER + "/")
                ),
                "https://auth.example.com/.well-known/openid-configuration/tenant1": (200, {}, metadata(ISSUER)),
            }
        )  # fmt: skip
        async with server.client() as http:
            found = await fetch_authorization_server_metadata(http, ISSUER, HTTPS_ONLY, tutorial)
        assert found.issuer == ISSUER
        assert len(server.asked) == 2

    async def test_metadata_without_s256_is_refused(self, tutorial: Tutorial) -> None:
        """CL-07: a missing code_challenge_methods_supported is as bad as one without S256."""
        document = metadata(ISSUER)
        del document["code_challenge_methods_supported"]
        server = Server(
            {"https://auth.example.com/.well-known/oauth-authorization-server/tenant1": (200, {}, document)}
        )
        async with server.client() as http:
            with pytest.raises(AuthorizationServerError, match="does not list S256"):
                await fetch_authorization_server_metadata(http, ISSUER, HTTPS_ONLY, tutorial)

    async def test_a_plain_http_token_endpoint_is_refused(self, tutorial: Tutorial) -> None:
        """CL-08: endpoints from metadata are https (http on loopback only in the local demo)."""
        document = metadata(ISSUER, token_endpoint="http://auth.example.com/token")
        server = Server(
            {"https://auth.example.com/.well-known/oauth-authorization-server/tenant1": (200, {}, document)}
        )
        async with server.client() as http:
            with pytest.raises(
                AuthorizationServerError, match=re.escape("the token_endpoint 'http://auth.example.com/token'")
            ):
                await fetch_authorization_server_metadata(http, ISSUER, HTTPS_ONLY, tutorial)


class TestChooseIssuer:
    """CL-04, RFC 9728 §7.6: the authorization server the client uses, from the protected resource metadata."""

    def test_the_first_of_several(self) -> None:
        """CL-04: with two authorization servers listed, the first one is used (and said to have company)."""
        listed = ProtectedResourceMetadata(SERVER, (ISSUER, "https://other.example.com"))
        out = io.StringIO()
        assert choose_issuer(listed, HTTPS_ONLY, Tutorial(out)) == ISSUER
        assert f"use the first of authorization_servers: {ISSUER} (1 more listed)" in out.getvalue()

    def test_an_unsafe_first_issuer_is_refused(self, tutorial: Tutorial) -> None:
        """CL-04, CL-08: the issuer named is checked before its metadata is fetched."""
        listed = ProtectedResourceMetadata(SERVER, ("http://169.254.169.254/latest",))
        with pytest.raises(
            McpServerError, match=re.escape("names the authorization server 'http://169.254.169.254/latest'")
        ):
            choose_issuer(listed, HTTPS_ONLY, tutorial)
