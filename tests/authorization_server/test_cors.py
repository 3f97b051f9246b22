"""CORS: on the endpoints browser clients call with fetch, never on /authorize (AS-10, RFC 9700 §2.6)."""

import httpx2
import pytest

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import PUBLIC_CLIENT, Issuer

ORIGIN = "https://inspector.example"

#: Every route with CORS, and the methods its preflight allows.
CORS_ROUTES = [
    ("/.well-known/oauth-authorization-server", "GET, OPTIONS"),
    ("/.well-known/oauth-authorization-server/mcp/demo", "GET, OPTIONS"),
    ("/mcp/demo/.well-known/oauth-authorization-server", "GET, OPTIONS"),
    ("/jwks.json", "GET, OPTIONS"),
    ("/register", "POST, OPTIONS"),
    ("/api/v1/authz/clients/register", "POST, OPTIONS"),
    ("/api/v1/authz/clients/register/mcp/demo/latest", "POST, OPTIONS"),
    ("/register/any-client-id", "GET, PUT, DELETE, OPTIONS"),
    ("/token", "POST, OPTIONS"),
    ("/mcp/demo/token", "POST, OPTIONS"),
]


def preflight(http: httpx2.Client, url: str) -> httpx2.Response:
    """What a browser sends before a cross-origin POST with an MCP header and credentials."""
    return http.options(
        url,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
        },
    )


class TestPreflight:
    @pytest.mark.parametrize(("path", "methods"), CORS_ROUTES)
    def test_a_preflight_is_answered_without_authentication(
        self, demo_as: AuthorizationServer, http: httpx2.Client, path: str, methods: str
    ):
        """AS-10, USER-NEEDS theme 7: any origin, the MCP headers allowed, no 401 for an OPTIONS."""
        response = preflight(http, demo_as.url + path)

        assert response.status_code == 204
        assert {
            name: response.headers.get(name)
            for name in (
                "access-control-allow-origin",
                "access-control-allow-methods",
                "access-control-allow-headers",
                "access-control-max-age",
            )
        } == {
            "access-control-allow-origin": "*",
            "access-control-allow-methods": methods,
            "access-control-allow-headers": (
                "Authorization, Content-Type, DPoP, MCP-Protocol-Version, Mcp-Method, Mcp-Name"
            ),
            "access-control-max-age": "86400",
        }


class TestActualRequests:
    def test_metadata_and_jwks_are_readable_from_any_origin(self, demo: Issuer, demo_as: AuthorizationServer):
        """AS-10, RFC 8414 §3: a browser client may read the metadata and the keys."""
        metadata = demo.http.get(
            f"{demo_as.url}/.well-known/oauth-authorization-server/mcp/demo", headers={"Origin": ORIGIN}
        )
        jwks = demo.http.get(f"{demo_as.url}/jwks.json", headers={"Origin": ORIGIN})

        assert [metadata.status_code, jwks.status_code] == [200, 200]
        assert [metadata.headers["access-control-allow-origin"], jwks.headers["access-control-allow-origin"]] == [
            "*",
            "*",
        ]

    def test_an_error_of_a_discovery_route_is_readable_too(self, demo_as: AuthorizationServer, http: httpx2.Client):
        """AS-10, RFC 8414 §3.2: the JSON 404 for an unknown MCP server's metadata reaches the page, like the 200."""
        response = http.get(
            f"{demo_as.url}/.well-known/oauth-authorization-server/mcp/nobody", headers={"Origin": ORIGIN}
        )

        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-expose-headers"] == "WWW-Authenticate, Retry-After, DPoP-Nonce"

    def test_a_registration_from_a_browser_origin_is_readable(self, demo: Issuer):
        """AS-10, USER-NEEDS theme 7 (keycloak PR #43625): the registration response reaches the page."""
        response = demo.http.post(demo.registration_endpoint, json=PUBLIC_CLIENT, headers={"Origin": ORIGIN})

        assert response.status_code == 201
        assert response.headers["access-control-allow-origin"] == "*"

    def test_a_token_error_exposes_its_challenge_to_the_page(self, demo: Issuer):
        """AS-10, OAuth 2.1 §3.2.4: a browser client can read the 401 and its WWW-Authenticate."""
        response = demo.post_token(
            {"grant_type": "authorization_code", "client_id": "unknown", "code": "x"}, headers={"Origin": ORIGIN}
        )

        assert response.status_code == 401
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-expose-headers"] == "WWW-Authenticate, Retry-After, DPoP-Nonce"


class TestNeverOnAuthorize:
    @pytest.mark.parametrize("path", ["/authorize", "/mcp/demo/authorize", "/interaction/anything/login"])
    def test_no_cors_header_on_authorize_or_the_pages(
        self, demo_as: AuthorizationServer, http: httpx2.Client, path: str
    ):
        """AS-10, RFC 9700 §2.6: OPTIONS and GET with an Origin get no Access-Control-Allow-Origin."""
        options = preflight(http, demo_as.url + path)
        get = http.get(demo_as.url + path, headers={"Origin": ORIGIN})

        assert options.status_code == 405
        assert [name for name in options.headers if name.startswith("access-control-")] == []
        assert [name for name in get.headers if name.startswith("access-control-")] == []
