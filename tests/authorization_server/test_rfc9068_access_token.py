"""JWT access tokens (RFC 9068), checked the way an MCP server checks them: against the JWKS."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest

from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import Issuer, claims, journey_of, rows


def verified(http: httpx2.Client, jwks_uri: str, token: str, *, issuer: str, audience: str) -> dict[str, Any]:
    """The token's claims, after pyjwt checked signature, issuer, audience and expiry (RFC 9068 §4)."""
    keys = jwt.PyJWKSet.from_dict(http.get(jwks_uri).json())
    key = keys[jwt.get_unverified_header(token)["kid"]]
    return dict(jwt.decode(token, key, algorithms=["ES256"], issuer=issuer, audience=audience))


class TestHeader:
    def test_the_header_is_typed_at_jwt_signed_es256_with_a_published_kid(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """AS-41, RFC 9068 §2.1: typ at+jwt, an asymmetric alg, and a kid found in the JWK Set."""
        [key] = demo.http.get(f"{demo_as.url}/jwks.json").json()["keys"]

        token = demo.tokens(demo.register())["access_token"]

        assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": key["kid"], "typ": "at+jwt"}


class TestClaims:
    def test_the_claims_name_issuer_user_audience_client_scope_times_and_id(
        self, demo_as: AuthorizationServer, demo: Issuer, demo_resource: str
    ):
        """AS-37, AS-41, RFC 9068 §2.2: iss, sub, aud, client_id, scope, iat, exp (iat + TTL), jti, grant_id."""
        client = demo.register()
        [user] = rows(demo_as.db, "SELECT id FROM users WHERE username = 'demo'")

        token = demo.tokens(client, scope="mcp:read mcp:write")["access_token"]

        found = verified(demo.http, f"{demo_as.url}/jwks.json", token, issuer=demo.url, audience=demo_resource)
        assert isinstance(found.pop("jti"), str)
        iat = found.pop("iat")
        assert found == {
            "iss": demo.url,
            "sub": user["id"],
            "aud": demo_resource,
            "client_id": client.client_id,
            "scope": "mcp:read mcp:write",
            "exp": iat + 900,
            "grant_id": journey_of(demo_as.db, client.client_id)["id"],
        }

    def test_each_token_has_its_own_jti(self, demo: Issuer):
        """RFC 9068 §2.2, RFC 7519 §4.1.7: jti identifies one token."""
        client = demo.register()
        first = demo.tokens(client)["access_token"]
        second = demo.tokens(client)["access_token"]

        assert claims(first)["jti"] != claims(second)["jti"]

    def test_a_root_issuer_token_names_the_root_issuer_and_the_resource_asked_for(
        self, demo_as: AuthorizationServer, root: Issuer, demo_resource: str
    ):
        """AS-04, RFC 9068 §2.2: iss is the issuer the client used; aud the resource it named."""
        client = root.register()

        token = root.tokens(client, resource=demo_resource)["access_token"]

        found = verified(root.http, f"{demo_as.url}/jwks.json", token, issuer=root.url, audience=demo_resource)
        assert (found["iss"], found["aud"]) == (demo_as.url, demo_resource)

    def test_a_token_for_another_audience_fails_an_audience_check(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-37, MCP-S Token Audience Binding: a token is for exactly one MCP server."""
        token = demo.tokens(demo.register())["access_token"]

        with pytest.raises(jwt.InvalidAudienceError):
            verified(demo.http, f"{demo_as.url}/jwks.json", token, issuer=demo.url, audience="http://localhost/other")


@pytest.fixture(name="restartable")
def _restartable(tmp_path: Path, mcp_port: int) -> Iterator[list[AuthorizationServer]]:
    """A demo server that the test restarts on the same database; every instance is stopped at the end."""
    started = [start_authorization_server(tmp_path, mcp_port=mcp_port)]
    yield started
    for server in started:
        server.program.stop()


class TestSigningKey:
    def test_the_signing_key_survives_a_restart(
        self, restartable: list[AuthorizationServer], http: httpx2.Client, mcp_port: int, demo_resource: str
    ):
        """RFC 9068 §4: the same key is served after a restart, and verifies the tokens issued before it."""
        before = restartable[0]
        issuer = Issuer(
            http,
            before.issuer_for("demo"),
            f"{before.url}/api/v1/authz/clients/register/mcp/demo/latest",
            resource=demo_resource,
        )
        token = issuer.tokens(issuer.register())["access_token"]
        jwks_before = http.get(f"{before.url}/jwks.json").json()
        before.program.stop()

        after = start_authorization_server(before.db.parent, port=before.port, mcp_port=mcp_port)
        restartable.append(after)

        assert http.get(f"{after.url}/jwks.json").json() == jwks_before
        found = verified(http, f"{after.url}/jwks.json", token, issuer=issuer.url, audience=demo_resource)
        assert found["iss"] == after.issuer_for("demo")
