"""The client credentials grant for machine clients (OAuth 2.1 §4.2, docs/decisions/0018).

A confidential client registered with ``client_credentials`` gets an access token for itself:
``sub`` is its client_id, the audience is the MCP server the ``resource`` names (RFC 8707), the
scope lies within that server's, and there is no refresh token (§4.2.3). One client's tokens
for one MCP server form one Authorization Journey.
"""

from typing import Any

import httpx2
import pytest

from authorization_server.settings import DEMO_ADMIN
from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import Issuer, Registered, claims, journey_of, rows, steps
from tests.authorization_server.test_private_key_jwt import Signer, with_assertion

#: A machine client: no redirect URI, no browser, a secret.
MACHINE_CLIENT: dict[str, Any] = {
    "client_name": "Nightly report job",
    "grant_types": ["client_credentials"],
    "token_endpoint_auth_method": "client_secret_basic",
}


def register_machine(issuer: Issuer, **metadata: Any) -> Registered:
    response = issuer.http.post(issuer.registration_endpoint, json={**MACHINE_CLIENT, **metadata})
    assert response.status_code == 201, response.text
    return Registered(response.json())


def token_for(issuer: Issuer, client: Registered, **form: str | None) -> httpx2.Response:
    """POST /token with grant_type=client_credentials, authenticating as the client registered."""
    return issuer._as_client(client, {"grant_type": "client_credentials", "resource": issuer.resource, **form})


def error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


class TestRegistration:
    def test_a_machine_client_registers_without_redirect_uris(self, demo: Issuer):
        """OAuth 2.1 §4.2, RFC 7591 §2.1: client_credentials alone needs no redirect URI nor response type."""
        client = register_machine(demo)

        assert client.info["grant_types"] == ["client_credentials"]
        assert "redirect_uris" not in client.info and "response_types" not in client.info
        assert client.client_secret

    def test_a_public_client_cannot_register_client_credentials(self, demo: Issuer):
        """OAuth 2.1 §4.2: only confidential clients may use the grant."""
        response = demo.http.post(
            demo.registration_endpoint, json={**MACHINE_CLIENT, "token_endpoint_auth_method": "none"}
        )

        assert error_of(response) == (400, "invalid_client_metadata")

    def test_response_types_code_needs_the_authorization_code_grant(self, demo: Issuer):
        """RFC 7591 §2.1: the code response type and the authorization_code grant go together."""
        response = demo.http.post(demo.registration_endpoint, json={**MACHINE_CLIENT, "response_types": ["code"]})

        assert error_of(response) == (400, "invalid_client_metadata")

    def test_the_grant_is_advertised(self, demo: Issuer):
        """RFC 8414 §2: grant_types_supported names client_credentials."""
        url = demo.url.replace("/mcp/demo", "/.well-known/oauth-authorization-server/mcp/demo")

        assert "client_credentials" in demo.http.get(url).json()["grant_types_supported"]


class TestToken:
    @pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
    def test_a_machine_client_gets_a_jwt_for_itself_and_no_refresh_token(self, demo: Issuer, method: str):
        """OAuth 2.1 §4.2.2, §4.2.3: an access token, sub = client_id, aud = the MCP server, no refresh token."""
        client = register_machine(demo, token_endpoint_auth_method=method)

        response = token_for(demo, client)

        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert sorted(body) == ["access_token", "expires_in", "scope", "token_type"]
        token = claims(body["access_token"])
        assert (token["sub"], token["client_id"], token["aud"]) == (client.client_id, client.client_id, demo.resource)
        assert (body["scope"], token["scope"]) == ("mcp:read", "mcp:read")

    def test_a_private_key_jwt_machine_client_gets_a_token(self, demo: Issuer):
        """OAuth 2.1 §4.2, RFC 7523 §2.2: the grant works with whatever method the client registered."""
        signer = Signer.new()
        client = register_machine(demo, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
        assertion = signer.assertion(client.client_id, demo.token_endpoint)

        response = demo.post_token(
            {"grant_type": "client_credentials", "resource": demo.resource, **with_assertion(assertion)}
        )

        assert response.status_code == 200, response.text
        assert claims(response.json()["access_token"])["sub"] == client.client_id

    def test_the_scope_must_be_the_mcp_server_s(self, demo: Issuer):
        """OAuth 2.1 §3.2.2.1: a scope the MCP server does not offer is invalid_scope."""
        client = register_machine(demo)

        assert token_for(demo, client, scope="mcp:read mcp:write").json()["scope"] == "mcp:read mcp:write"
        assert error_of(token_for(demo, client, scope="mcp:admin")) == (400, "invalid_scope")

    def test_the_resource_must_be_the_issuer_s_mcp_server(self, demo: Issuer, other: Issuer):
        """AS-36, RFC 8707 §2: another MCP server's resource is invalid_target."""
        client = register_machine(demo)

        assert error_of(token_for(demo, client, resource=other.resource)) == (400, "invalid_target")

    def test_at_the_root_issuer_the_resource_picks_the_audience(self, root: Issuer, other: Issuer, demo_resource: str):
        """RFC 8707 §2, RFC 9068 §3: a registered MCP server's resource, or the default one; else invalid_target."""
        client = register_machine(root)

        assert claims(token_for(root, client, resource=other.resource).json()["access_token"])["aud"] == other.resource
        assert claims(token_for(root, client, resource=None).json()["access_token"])["aud"] == demo_resource
        unknown = token_for(root, client, resource="https://unknown.example/mcp")
        assert error_of(unknown) == (400, "invalid_target")

    def test_a_client_that_did_not_register_the_grant_is_unauthorized_client(self, demo: Issuer):
        """OAuth 2.1 §3.2.4: a confidential client registered for authorization_code only is refused."""
        client = demo.register(token_endpoint_auth_method="client_secret_basic")

        assert error_of(token_for(demo, client)) == (400, "unauthorized_client")

    def test_a_wrong_secret_is_401_invalid_client(self, demo: Issuer):
        """OAuth 2.1 §3.2.4: client authentication is required."""
        client = register_machine(demo)
        forged = Registered({**client.info, "client_secret": "not-the-secret"})

        response = token_for(demo, forged)

        assert error_of(response) == (401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic ")

    def test_offline_access_gets_no_refresh_token(self, demo: Issuer):
        """AS-38, OAuth 2.1 §4.2.3, decision 0018: a machine client asks again instead of refreshing."""
        client = register_machine(demo, grant_types=["client_credentials", "refresh_token"])

        body = token_for(demo, client, scope="mcp:read offline_access").json()

        assert "refresh_token" not in body
        assert body["scope"] == "mcp:read"


class TestJourney:
    def test_tokens_continue_the_registration_s_journey(self, demo_as: AuthorizationServer, demo: Issuer):
        """Issue 4, decision 0018: one journey per client and MCP server, active from the first token."""
        client = register_machine(demo)

        token_for(demo, client)
        token_for(demo, client)

        journey = journey_of(demo_as.db, client.client_id)
        assert (journey["status"], journey["user_id"]) == ("active", None)
        assert steps(demo_as.db, journey["id"]) == [
            "registered",
            "client_credentials_granted",
            "client_credentials_granted",
        ]

    def test_the_journey_is_shown_like_any_other(self, demo_as: AuthorizationServer, demo: Issuer):
        """Issue 4: the admin page draws a journey without a user, and `journeys show` prints it."""
        client = register_machine(demo)
        token_for(demo, client)
        journey_id = journey_of(demo_as.db, client.client_id)["id"]

        page = demo.http.get(f"{demo_as.url}/admin/journeys/{journey_id}", auth=DEMO_ADMIN)
        shown = demo_as.cli("journeys", "show", journey_id).stdout

        assert page.status_code == 200
        assert "client credentials for a token" in page.text
        assert "client_credentials_granted" in shown

    def test_revoking_a_token_ends_the_journey_and_the_next_token_starts_another(
        self, demo_as: AuthorizationServer, demo: Issuer, demo_secret: str
    ):
        """RFC 7009 §2, RFC 7662, decision 0018: revoking ends the grant and the token; the next token starts anew."""
        client = register_machine(demo)
        token = token_for(demo, client).json()["access_token"]

        assert demo.revoke(client, token).status_code == 200
        introspected = demo.post_form(demo.url + "/introspect", {"token": token}, auth=("demo", demo_secret)).json()
        assert introspected == {"active": False}
        token_for(demo, client)

        journeys = rows(
            demo_as.db,
            "SELECT j.status FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
            " WHERE f.client_id = ? ORDER BY j.created_at",
            client.client_id,
        )
        assert [row["status"] for row in journeys] == ["revoked", "active"]
