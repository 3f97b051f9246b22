"""The token endpoint (OAuth 2.1 §3.2, §4.1.3, §4.3, RFC 7636 §4.6, RFC 8707 §2.2)."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from mcp_authz.authorization_server import clock
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import Issuer, Registered, claims, execute, journey_of, rows


def error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


class TestCodeExchange:
    def test_a_code_yields_a_bearer_token_a_refresh_token_and_no_caching(self, demo: Issuer):
        """AS-30, OAuth 2.1 §3.2.3: 200 JSON, token_type Bearer, expires_in, scope, refresh_token, no-store."""
        client = demo.register()

        response = demo.exchange(client, demo.code(client))

        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert sorted(body) == ["access_token", "expires_in", "refresh_token", "scope", "token_type"]
        assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 900, "mcp:read")

    def test_the_granted_scope_is_the_requested_one(self, demo: Issuer):
        """AS-20, OAuth 2.1 §3.2.3: the token response names the scope granted."""
        client = demo.register()

        body = demo.tokens(client, scope="mcp:write mcp:read")

        assert body["scope"] == "mcp:write mcp:read"

    def test_a_client_without_the_refresh_token_grant_gets_no_refresh_token(self, demo: Issuer):
        """AS-38, RFC 9700 §4.14.2: refresh tokens only for clients that registered the refresh_token grant."""
        client = demo.register(grant_types=["authorization_code"])

        body = demo.tokens(client)

        assert sorted(body) == ["access_token", "expires_in", "scope", "token_type"]

    def test_a_client_without_the_refresh_token_grant_may_not_refresh(self, demo: Issuer):
        """OAuth 2.1 §3.2.4: a grant type the client did not register is unauthorized_client."""
        client = demo.register(grant_types=["authorization_code"])

        response = demo.refresh(client, "anything")

        assert error_of(response) == (400, "unauthorized_client")


class TestPkce:
    def test_a_wrong_verifier_is_invalid_grant(self, demo: Issuer):
        """AS-33, RFC 7636 §4.6: BASE64URL(SHA256(verifier)) must equal the challenge."""
        client = demo.register()

        response = demo.exchange(client, demo.code(client), code_verifier="x" * 43)

        assert error_of(response) == (400, "invalid_grant")

    def test_a_missing_verifier_is_invalid_grant(self, demo: Issuer):
        """AS-33, RFC 7636 §4.5: a code issued with a challenge needs its verifier."""
        client = demo.register()

        response = demo.exchange(client, demo.code(client), code_verifier=None)

        assert error_of(response) == (400, "invalid_grant")


class TestCodeBinding:
    def test_a_reused_code_is_rejected_and_revokes_its_tokens(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-34, OAuth 2.1 §4.1.3: the second redemption is invalid_grant and the refresh token dies with it."""
        client = demo.register()
        code = demo.code(client)
        first = demo.exchange(client, code).json()

        second = demo.exchange(client, code)

        assert error_of(second) == (400, "invalid_grant")
        assert error_of(demo.refresh(client, first["refresh_token"])) == (400, "invalid_grant")
        assert journey_of(demo_as.db, client.client_id)["status"] == "revoked"

    def test_a_replay_with_a_wrong_verifier_is_refused_and_revokes_nothing(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """AS-34: only a replay that would otherwise be valid revokes; knowing the code alone is not enough."""
        client = demo.register()
        code = demo.code(client)
        tokens = demo.exchange(client, code).json()

        replayed = demo.exchange(client, code, code_verifier="x" * 43)

        assert error_of(replayed) == (400, "invalid_grant")
        assert demo.refresh(client, tokens["refresh_token"]).status_code == 200
        assert journey_of(demo_as.db, client.client_id)["status"] == "active"

    def test_a_code_presented_by_another_client_is_invalid_grant_and_revokes_nothing(self, demo: Issuer):
        """AS-33, AS-34: a code is bound to its client; another client's attempt changes nothing."""
        owner, intruder = demo.register(), demo.register()
        code = demo.code(owner)

        stolen = demo.exchange(intruder, code)
        redeemed = demo.exchange(owner, code)
        replayed_by_intruder = demo.exchange(intruder, code)

        assert error_of(stolen) == (400, "invalid_grant")
        assert redeemed.status_code == 200
        assert error_of(replayed_by_intruder) == (400, "invalid_grant")
        assert demo.refresh(owner, redeemed.json()["refresh_token"]).status_code == 200

    def test_a_different_redirect_uri_is_invalid_grant(self, demo: Issuer):
        """AS-35, OAuth 2.1 §10.2: a redirect_uri sent at /token must equal the authorization request's."""
        client = demo.register(redirect_uris=["http://127.0.0.1/callback"])
        code = demo.code(client, redirect_uri="http://127.0.0.1:50001/callback")

        response = demo.exchange(client, code, redirect_uri="http://127.0.0.1:50002/callback")

        assert error_of(response) == (400, "invalid_grant")

    def test_the_redirect_uri_may_be_left_out(self, demo: Issuer):
        """OAuth 2.1 §4.1.3: clients of OAuth 2.1 need not repeat the redirect_uri."""
        client = demo.register()

        response = demo.exchange(client, demo.code(client), redirect_uri=None)

        assert response.status_code == 200

    def test_a_resource_of_another_server_is_invalid_target(self, demo: Issuer, other: Issuer):
        """AS-36, RFC 8707 §2.2: the token request may not ask for an audience outside the grant."""
        client = demo.register()

        response = demo.exchange(client, demo.code(client), resource=other.resource)

        assert error_of(response) == (400, "invalid_target")

    def test_a_wrong_resource_does_not_burn_the_code(self, demo: Issuer, other: Issuer):
        """Issue 15, RFC 8707 §2.2: resource is checked before the code is used, so the client that sent
        the wrong one may send the code again with the right one."""
        client = demo.register()
        code = demo.code(client)

        refused = demo.exchange(client, code, resource=other.resource)
        redeemed = demo.exchange(client, code)

        assert error_of(refused) == (400, "invalid_target")
        assert redeemed.status_code == 200, redeemed.text

    @pytest.mark.parametrize("spelling", ["{upper}/", "{origin}/", "{origin}"], ids=["upper+slash", "slash", "bare"])
    def test_the_resource_at_the_token_endpoint_is_compared_in_canonical_form(
        self, origin: Issuer, origin_resource: str, spelling: str
    ):
        """Issue 15, MCP Canonical Server URI, RFC 3986 §6.2.2.1 and §6.2.3: a code requested for
        ``http://localhost:PORT`` redeems with the resource spelled ``HTTP://LOCALHOST:PORT/``; aud is
        the resource as registered."""
        client = origin.register()

        response = origin.exchange(
            client, origin.code(client), resource=spelling.format(origin=origin_resource, upper=origin_resource.upper())
        )

        assert response.status_code == 200, response.text
        assert claims(response.json()["access_token"])["aud"] == origin_resource

    def test_an_unknown_code_is_invalid_grant(self, demo: Issuer):
        """OAuth 2.1 §4.1.3: a code this server never issued."""
        client = demo.register()
        code = demo.code(client)

        response = demo.exchange(client, code, code="A" * 43)

        assert error_of(response) == (400, "invalid_grant")


@pytest.fixture(name="short_lived_codes")
def _short_lived_codes(tmp_path: Path, mcp_port: int) -> Iterator[AuthorizationServer]:
    """Codes that live one second, in-process so that a test moves its clock past that."""
    server = start_authorization_server(tmp_path, "--code-ttl", "1", mcp_port=mcp_port, in_process=True)
    yield server
    server.program.stop()


class TestCodeExpiry:
    def test_an_expired_code_is_invalid_grant(self, short_lived_codes: AuthorizationServer, demo: Issuer):
        """AS-26, OAuth 2.1 §4.1.2: a code lives briefly (here --code-ttl 1) and is refused after."""
        issuer = Issuer(
            demo.http,
            short_lived_codes.issuer_for("demo"),
            f"{short_lived_codes.url}/api/v1/authz/clients/register/mcp/demo/latest",
            resource=demo.resource,
        )
        with clock.frozen():
            client = issuer.register()
            code = issuer.code(client)
            clock.advance(1.2)

            response = issuer.exchange(client, code)

        assert response.json() == {"error": "invalid_grant", "error_description": "the authorization code has expired"}


class TestRefresh:
    def test_each_refresh_rotates_the_refresh_token(self, demo: Issuer):
        """AS-39, OAuth 2.1 §4.3.1: every refresh answers a new refresh token and a new access token."""
        client = demo.register()
        first = demo.tokens(client)

        second = demo.refresh(client, first["refresh_token"]).json()
        third = demo.refresh(client, second["refresh_token"]).json()

        assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
        assert len({first["access_token"], second["access_token"], third["access_token"]}) == 3

    def test_a_refresh_asking_for_more_scope_is_invalid_scope(self, demo: Issuer):
        """AS-40, OAuth 2.1 §4.3.1: the refresh scope must lie within the granted scope."""
        client = demo.register()
        refresh_token = demo.tokens(client, scope="mcp:read")["refresh_token"]

        response = demo.refresh(client, refresh_token, scope="mcp:read mcp:write")

        assert error_of(response) == (400, "invalid_scope")

    def test_a_narrower_scope_narrows_only_the_new_access_token(self, demo: Issuer):
        """AS-40, OAuth 2.1 §4.3.1: a narrower refresh scope narrows the token; the grant keeps its scope."""
        client = demo.register()
        refresh_token = demo.tokens(client, scope="mcp:read mcp:write")["refresh_token"]

        narrowed = demo.refresh(client, refresh_token, scope="mcp:read").json()
        restored = demo.refresh(client, narrowed["refresh_token"]).json()

        assert (narrowed["scope"], claims(narrowed["access_token"])["scope"]) == ("mcp:read", "mcp:read")
        assert (restored["scope"], claims(restored["access_token"])["scope"]) == ("mcp:read mcp:write",) * 2

    @pytest.mark.parametrize("resource", ["same", None], ids=["resource repeated", "resource left out"])
    def test_the_audience_survives_a_refresh(self, demo: Issuer, resource: str | None):
        """USER-NEEDS theme 10, RFC 8707 §2.2: the refreshed token is still for the MCP server, not the client."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]

        refreshed = demo.refresh(client, refresh_token, resource=demo.resource if resource else None).json()

        assert claims(refreshed["access_token"])["aud"] == demo.resource

    def test_a_refresh_for_another_resource_is_invalid_target(self, demo: Issuer, other: Issuer):
        """AS-36, RFC 8707 §2.2: a refresh token is bound to the resource it was granted for."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]

        response = demo.refresh(client, refresh_token, resource=other.resource)

        assert error_of(response) == (400, "invalid_target")

    def test_a_refresh_token_presented_by_another_client_is_invalid_grant(self, demo: Issuer):
        """AS-40, OAuth 2.1 §4.3: a refresh token is bound to the client it was issued to."""
        owner, intruder = demo.register(), demo.register()
        refresh_token = demo.tokens(owner)["refresh_token"]

        stolen = demo.refresh(intruder, refresh_token)

        assert error_of(stolen) == (400, "invalid_grant")
        assert demo.refresh(owner, refresh_token).status_code == 200


def confidential(issuer: Issuer, method: str) -> Registered:
    return issuer.register(token_endpoint_auth_method=method)


class TestClientAuthentication:
    def test_an_unknown_client_is_a_401_with_a_challenge(self, demo: Issuer):
        """AS-31, USER-NEEDS theme 3: invalid_client with 401 tells MCP clients to register again."""
        response = demo.post_token({"grant_type": "refresh_token", "refresh_token": "x", "client_id": "forgotten"})

        assert error_of(response) == (401, "invalid_client")
        assert response.headers["www-authenticate"] == f'Basic realm="{demo.url}"'

    @pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
    def test_a_confidential_client_authenticates_with_its_registered_method(self, demo: Issuer, method: str):
        """AS-32, OAuth 2.1 §2.4.1: the secret in a Basic header, or in the body."""
        client = confidential(demo, method)

        response = demo.exchange(client, demo.code(client))

        assert response.status_code == 200

    @pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
    def test_a_wrong_secret_is_a_401(self, demo: Issuer, method: str):
        """AS-31, OAuth 2.1 §3.2.4: failed client authentication is invalid_client with 401."""
        client = confidential(demo, method)
        impostor = Registered({**client.info, "client_secret": "not-the-secret"})

        response = demo.exchange(impostor, demo.code(client))

        assert error_of(response) == (401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic ")

    def test_a_confidential_client_without_its_secret_is_a_401(self, demo: Issuer):
        """AS-32, OAuth 2.1 §2.4: a confidential client must authenticate."""
        client = confidential(demo, "client_secret_post")
        as_public = Registered({**client.info, "token_endpoint_auth_method": "none"})

        response = demo.exchange(as_public, demo.code(client))

        assert error_of(response) == (401, "invalid_client")

    def test_a_client_using_another_method_than_registered_is_a_401(self, demo: Issuer):
        """OAuth 2.1 §2.4: a client_secret_basic client may not send its secret in the body."""
        client = confidential(demo, "client_secret_basic")
        by_post = Registered({**client.info, "token_endpoint_auth_method": "client_secret_post"})

        response = demo.exchange(by_post, demo.code(client))

        assert error_of(response) == (401, "invalid_client")

    def test_a_basic_header_and_a_body_secret_together_are_invalid_request(self, demo: Issuer):
        """AS-32, OAuth 2.1 §2.4: one authentication method per request."""
        client = confidential(demo, "client_secret_basic")
        assert client.client_secret is not None
        code = demo.code(client)

        response = demo.post_token(
            {
                "grant_type": "authorization_code",
                "code": code.value,
                "code_verifier": code.pkce.verifier,
                "client_secret": client.client_secret,
            },
            auth=(client.client_id, client.client_secret),
        )

        assert error_of(response) == (400, "invalid_request")

    @pytest.mark.parametrize("credentials", [b"%%%", b"\xe9t\xe9"], ids=["not base64", "not ascii"])
    def test_malformed_basic_credentials_are_a_401(self, demo: Issuer, credentials: bytes):
        """RFC 6749 §2.3.1: Basic credentials are base64 of client_id:client_secret; anything else is a 401."""
        response = demo.post_token(
            {"grant_type": "refresh_token", "refresh_token": "x"}, headers={"Authorization": b"Basic " + credentials}
        )

        assert error_of(response) == (401, "invalid_client")


class TestRequestShape:
    def test_get_is_not_allowed(self, demo: Issuer):
        """AS-29, OAuth 2.1 §3.2: the token endpoint takes POST only."""
        response = demo.http.get(demo.token_endpoint)

        assert response.status_code == 405

    @pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"])
    def test_a_grant_type_outside_oauth_21_for_mcp_is_unsupported(self, demo: Issuer, grant_type: str):
        """AS-12, OAuth 2.1 §10: no password grant (nor any grant but code, refresh and client credentials)."""
        client = demo.register()

        response = demo.post_token(
            {"grant_type": grant_type, "client_id": client.client_id, "username": "demo", "password": "demo"}
        )

        assert error_of(response) == (400, "unsupported_grant_type")

    def test_a_missing_grant_type_is_invalid_request(self, demo: Issuer):
        """OAuth 2.1 §3.2.2: grant_type is required."""
        client = demo.register()

        response = demo.exchange(client, demo.code(client), grant_type=None)

        assert error_of(response) == (400, "invalid_request")

    def test_a_repeated_code_parameter_is_invalid_request(self, demo: Issuer):
        """AS-29, OAuth 2.1 §3.2: a parameter sent twice is invalid_request."""
        client = demo.register()
        code = demo.code(client)

        response = demo.exchange(client, code, code=[code.value, code.value])

        assert error_of(response) == (400, "invalid_request")

    @pytest.mark.parametrize(
        ("body", "content_type", "expected"),
        [
            (b'{"grant_type": "authorization_code"}', "application/json", (400, "invalid_request")),
            (b"grant_type=authorization_code&code=%ff", "application/x-www-form-urlencoded", (400, "invalid_request")),
            (b"\xff\xfe", "application/x-www-form-urlencoded", (400, "invalid_request")),
            (b"grant_type=refresh_token", "text/plain", (400, "invalid_request")),
            (b"", "application/x-www-form-urlencoded", (401, "invalid_client")),
            (b"&".join([b"a=b"] * 100), "application/x-www-form-urlencoded", (400, "invalid_request")),
        ],
        ids=["json", "bad percent-encoding", "not utf-8", "text/plain", "empty", "too many fields"],
    )
    def test_a_malformed_body_is_an_oauth_error_never_a_500(
        self, demo: Issuer, body: bytes, content_type: str, expected: tuple[int, str]
    ):
        """AS-29, AS-31, OAuth 2.1 §3.2: form-encoded UTF-8 only; anything else is a JSON error."""
        response = demo.http.post(demo.token_endpoint, content=body, headers={"content-type": content_type})

        assert error_of(response) == expected

    def test_an_oversized_body_is_a_413(self, demo: Issuer):
        """USER-NEEDS theme 4: token request bodies are capped (16 KiB by default)."""
        response = demo.post_token({"grant_type": "refresh_token", "refresh_token": "x" * 20_000})

        assert error_of(response) == (413, "invalid_request")


class TestLogs:
    def test_no_secret_code_or_token_reaches_the_log(self, demo_as: AuthorizationServer, demo: Issuer):
        """DESIGN security defaults: the log has routes and statuses, never a secret, code, verifier or token."""
        client = confidential(demo, "client_secret_post")
        code = demo.code(client, state="state-for-the-log")
        tokens = demo.exchange(client, code).json()
        refreshed = demo.refresh(client, tokens["refresh_token"]).json()
        demo.exchange(client, code)  # a replay, logged as an error

        log = demo_as.program.log()

        sensitive = [client.client_secret, code.value, code.pkce.verifier, code.pkce.challenge, "state-for-the-log"]
        sensitive += [tokens["access_token"], tokens["refresh_token"], refreshed["access_token"]]
        assert [value for value in sensitive if value and value in log] == []
        assert "POST /mcp/{mcp_server_id}/token 400" in log


class TestRefreshTokenLifetime:
    def test_a_refresh_token_expires_after_a_period_without_use(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-40, OAuth 2.1 §4.3.3: each rotation starts a new lifetime, so only an unused token runs out;
        an expired one is invalid_grant."""
        client = demo.register()
        first = demo.tokens(client)["refresh_token"]
        time.sleep(0.01)  # two lifetimes a little apart; the server is another process, with its own clock
        second = demo.refresh(client, first).json()["refresh_token"]
        lifetimes = "SELECT expires_at FROM refresh_tokens WHERE client_id = ? ORDER BY issued_at"
        [before, after] = [row["expires_at"] for row in rows(demo_as.db, lifetimes, client.client_id)]
        assert after > before

        sql = "UPDATE refresh_tokens SET expires_at = '2000-01-01T00:00:00.000000+00:00' WHERE client_id = ?"
        execute(demo_as.db, sql, client.client_id)
        response = demo.refresh(client, second)

        assert response.json() == {"error": "invalid_grant", "error_description": "the refresh token has expired"}
