"""Authorization server metadata (RFC 8414) and the JWK Set, for the root and each MCP issuer."""

import httpx2
import jwt
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from scripts.stack import AuthorizationServer
from tests.authorization_server.conftest import OTHER_SERVER_ID, OTHER_SERVER_VERSION
from tests.authorization_server.flows import Issuer

#: RFC 8693 §2.1: MCP servers exchange their client's token for the user's downstream token (issue 4).
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"

WELL_KNOWN = "/.well-known/oauth-authorization-server"


class TestMcpIssuerMetadata:
    def test_it_is_served_as_json_at_the_path_inserted_url(self, demo_as: AuthorizationServer, http: httpx2.Client):
        """AS-01, AS-02, AS-03, RFC 8414 §3.1: issuer .../mcp/demo publishes at /.well-known/...-server/mcp/demo."""
        response = http.get(f"{demo_as.url}{WELL_KNOWN}/mcp/demo")

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"

    def test_it_names_the_issuer_it_was_built_from_byte_for_byte(
        self, demo_as: AuthorizationServer, http: httpx2.Client
    ):
        """AS-04, RFC 8414 §3.3: the issuer equals the identifier the metadata URL was made from, no trailing slash."""
        issuer = f"http://localhost:{demo_as.port}/mcp/demo"

        document = http.get(f"http://localhost:{demo_as.port}{WELL_KNOWN}/mcp/demo").json()

        assert document["issuer"] == issuer

    def test_it_lists_its_endpoints_scopes_and_the_methods_it_supports(
        self, demo_as: AuthorizationServer, http: httpx2.Client
    ):
        """AS-05, AS-06, AS-07, AS-08, RFC 8414 §2: every endpoint lives under the issuer; S256 only; iss is
        sent; client ID metadata documents and private_key_jwt (RFC 7523) are supported."""
        url = demo_as.url

        document = http.get(f"{url}{WELL_KNOWN}/mcp/demo").json()

        methods = ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"]
        assert document == {
            "issuer": f"{url}/mcp/demo",
            "authorization_endpoint": f"{url}/mcp/demo/authorize",
            "token_endpoint": f"{url}/mcp/demo/token",
            "registration_endpoint": f"{url}/api/v1/authz/clients/register/mcp/demo/latest",
            "jwks_uri": f"{url}/jwks.json",
            "scopes_supported": ["mcp:read", "mcp:write", "offline_access"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                TOKEN_EXCHANGE,
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
            ],
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
            "code_challenge_methods_supported": ["S256"],
            "revocation_endpoint": f"{url}/mcp/demo/revoke",
            "revocation_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
            "introspection_endpoint": f"{url}/mcp/demo/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "authorization_response_iss_parameter_supported": True,
            "client_id_metadata_document_supported": True,
            "dpop_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
            "authorization_grant_profiles_supported": ["urn:ietf:params:oauth:grant-profile:id-jag"],
        }

    def test_its_registration_endpoint_names_the_server_id_and_version(
        self, demo_as: AuthorizationServer, http: httpx2.Client, other: Issuer
    ):
        """Seed 000: the MCP issuer registers clients at /api/v1/authz/clients/register/mcp/{id}/{version}."""
        document = http.get(f"{demo_as.url}{WELL_KNOWN}/mcp/{OTHER_SERVER_ID}").json()

        assert document["registration_endpoint"] == (
            f"{demo_as.url}/api/v1/authz/clients/register/mcp/other/{OTHER_SERVER_VERSION}"
        )
        assert document["scopes_supported"] == ["files:read", "files:write", "offline_access"]

    def test_it_is_also_found_by_clients_that_append_the_well_known_suffix(
        self, demo_as: AuthorizationServer, http: httpx2.Client
    ):
        """USER-NEEDS theme 12: clients that append /.well-known/... to the issuer get the same document."""
        inserted = http.get(f"{demo_as.url}{WELL_KNOWN}/mcp/demo")

        appended = http.get(f"{demo_as.url}/mcp/demo{WELL_KNOWN}")

        assert appended.status_code == 200
        assert appended.json() == inserted.json()

    def test_an_unknown_mcp_server_id_is_a_404_naming_the_id(self, demo_as: AuthorizationServer, http: httpx2.Client):
        """AS-02: no issuer exists for an id that was never added, and the answer says which id."""
        response = http.get(f"{demo_as.url}{WELL_KNOWN}/mcp/no-such-server")

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "error": "not_found",
            "error_description": "no MCP server with id 'no-such-server' is registered here",
        }


class TestRootIssuerMetadata:
    def test_it_names_the_root_issuer_and_the_generic_endpoints(
        self, demo_as: AuthorizationServer, http: httpx2.Client
    ):
        """AS-01, AS-04, AS-05, AS-08, RFC 8414 §3: the root issuer is scheme://host:port, registering at
        /register; it accepts client ID metadata documents too."""
        url = demo_as.url

        response = http.get(f"{url}{WELL_KNOWN}")

        assert response.status_code == 200
        document = response.json()
        assert {name: document[name] for name in ("issuer", "authorization_endpoint", "token_endpoint")} == {
            "issuer": url,
            "authorization_endpoint": f"{url}/authorize",
            "token_endpoint": f"{url}/token",
        }
        assert document["registration_endpoint"] == f"{url}/register"
        assert document["code_challenge_methods_supported"] == ["S256"]
        assert document["authorization_response_iss_parameter_supported"] is True
        assert document["client_id_metadata_document_supported"] is True
        assert {"mcp:read", "mcp:write"} <= set(document["scopes_supported"])


class TestAuthlibAgrees:
    @pytest.mark.parametrize("path", ["", "/mcp/demo"])
    def test_authlib_finds_the_document_valid(self, demo_as: AuthorizationServer, http: httpx2.Client, path: str):
        """RFC 8414 §2, checked independently by authlib's AuthorizationServerMetadata.validate()."""
        document = http.get(f"{demo_as.url}{WELL_KNOWN}{path}").json()

        AuthorizationServerMetadata(document).validate()


class TestJwks:
    def test_the_jwk_set_holds_the_public_key_whose_kid_signs_the_tokens(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """RFC 7517 §5, RFC 9068 §4: the token's kid names a published ES256 public key, without private parts."""
        kid = jwt.get_unverified_header(demo.tokens(demo.register())["access_token"])["kid"]

        response = demo.http.get(f"{demo_as.url}/jwks.json")

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        [key] = [key for key in response.json()["keys"] if key["kid"] == kid]
        assert sorted(key) == ["alg", "crv", "kid", "kty", "use", "x", "y"]
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")


class TestNoOpenIdDiscovery:
    @pytest.mark.parametrize(
        "path",
        [
            "/.well-known/openid-configuration",
            "/.well-known/openid-configuration/mcp/demo",
            "/mcp/demo/.well-known/openid-configuration",
        ],
    )
    def test_no_openid_provider_metadata_is_served(self, demo_as: AuthorizationServer, http: httpx2.Client, path: str):
        """AS-09, OIDC Discovery §4: this server issues no ID tokens, so it publishes no OP metadata that
        could contradict its RFC 8414 document; clients fall back to RFC 8414 (MCP-D AS Metadata Discovery)."""
        response = http.get(demo_as.url + path)

        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
