"""Token introspection (RFC 7662, checklist AS-42) by MCP servers holding their credentials."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mcp_authz.authorization_server import clock
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.conftest import OTHER_SERVER_ID
from tests.authorization_server.flows import Issuer, claims, journey_of, rows, steps
from tests.conftest import new_mcp_server_secret


@pytest.fixture(name="short_lived_tokens")
def _short_lived_tokens(
    tmp_path: Path, http: httpx2.Client, mcp_port: int, demo_resource: str
) -> Iterator[tuple[Issuer, str]]:
    """A demo server whose access tokens live one second, and the demo MCP server's secret there.

    In-process, so that a test can have it mint a token in the past (``clock.frozen``)."""
    server = start_authorization_server(tmp_path, "--access-token-ttl", "1", mcp_port=mcp_port, in_process=True)
    registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
    yield (
        Issuer(http, server.issuer_for("demo"), registration, resource=demo_resource),
        new_mcp_server_secret(server, "demo"),
    )
    server.program.stop()


def introspect(issuer: Issuer, token: str, auth: tuple[str, str] | None, **form: str) -> httpx2.Response:
    return issuer.post_form(issuer.url + "/introspect", {"token": token, **form}, auth=auth)


class TestAnActiveToken:
    def test_it_describes_the_token(
        self, demo_as: AuthorizationServer, demo: Issuer, demo_resource: str, demo_secret: str
    ):
        """AS-42, RFC 7662 §2.2: active, scope, client_id, sub, aud, iss, exp, iat, jti, token_type."""
        client = demo.register()
        token = demo.tokens(client, scope="mcp:read mcp:write")["access_token"]
        issued = claims(token)

        response = introspect(demo, token, ("demo", demo_secret))

        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.json() == {
            "active": True,
            "scope": "mcp:read mcp:write",
            "client_id": client.client_id,
            "sub": journey_of(demo_as.db, client.client_id)["user_id"],
            "aud": demo_resource,
            "iss": demo.url,
            "exp": issued["exp"],
            "iat": issued["iat"],
            "jti": issued["jti"],
            "token_type": "Bearer",
        }

    def test_the_secret_may_be_sent_in_the_body(self, demo: Issuer, demo_secret: str):
        """RFC 7662 §2.1, OAuth 2.1 §2.4.1: client_secret_post works as well as Basic."""
        token = demo.tokens(demo.register())["access_token"]

        response = introspect(demo, token, None, client_id="demo", client_secret=demo_secret)

        assert response.json()["active"] is True


class TestAnInactiveToken:
    def test_a_revoked_grants_token_is_inactive(self, demo: Issuer, demo_secret: str):
        """AS-42, AS-58, RFC 7662 §2.2: once its refresh token is revoked, the access token is inactive."""
        client = demo.register()
        tokens = demo.tokens(client)
        demo.revoke(client, tokens["refresh_token"])

        response = introspect(demo, tokens["access_token"], ("demo", demo_secret))

        assert response.json() == {"active": False}

    def test_a_replayed_codes_token_is_inactive(self, demo: Issuer, demo_secret: str):
        """AS-34: after a code is redeemed twice, the first access token is rejected by introspection."""
        client = demo.register()
        code = demo.code(client)
        first = demo.exchange(client, code).json()
        demo.exchange(client, code)

        response = introspect(demo, first["access_token"], ("demo", demo_secret))

        assert response.json() == {"active": False}

    @pytest.mark.parametrize("token", ["not-a-jwt", "eyJhbGciOiJub25lIn0.e30.", ""])
    def test_a_malformed_or_unknown_token_is_inactive(self, demo: Issuer, demo_secret: str, token: str):
        """AS-42, RFC 7662 §2.2: exactly {"active": false}, nothing more (§4)."""
        response = introspect(demo, token or "x" * 43, ("demo", demo_secret))

        assert (response.status_code, response.json()) == (200, {"active": False})

    def test_a_refresh_token_is_inactive(self, demo: Issuer, demo_secret: str):
        """RFC 7662 §2.2 (decision 0010): MCP servers never see refresh tokens; none is introspected."""
        refresh_token = demo.tokens(demo.register())["refresh_token"]

        response = introspect(demo, refresh_token, ("demo", demo_secret), token_type_hint="refresh_token")

        assert response.json() == {"active": False}

    def test_another_mcp_servers_token_is_inactive(
        self, demo_as: AuthorizationServer, demo: Issuer, other: Issuer, demo_secret: str
    ):
        """AS-42: the other MCP server introspecting the demo server's token learns nothing."""
        other_secret = new_mcp_server_secret(demo_as, OTHER_SERVER_ID)
        token = demo.tokens(demo.register())["access_token"]

        at_other = introspect(other, token, (OTHER_SERVER_ID, other_secret))
        at_demo = introspect(demo, token, (OTHER_SERVER_ID, other_secret))

        assert (at_other.json(), at_demo.json()) == ({"active": False}, {"active": False})

    def test_a_token_of_another_issuer_is_inactive(self, demo: Issuer, root: Issuer, demo_secret: str):
        """RFC 7662 §2.2: each issuer answers for the tokens it issued."""
        token = demo.tokens(demo.register())["access_token"]

        response = introspect(root, token, ("demo", demo_secret))

        assert response.json() == {"active": False}

    def test_an_expired_token_is_inactive(self, short_lived_tokens: tuple[Issuer, str]):
        """AS-42, RFC 7662 §2.2: a token past its exp is inactive."""
        issuer, secret = short_lived_tokens
        # Minted a minute ago, so its exp has passed: pyjwt checks exp against the real clock.
        with clock.frozen(datetime.now(UTC) - timedelta(minutes=1)):
            token = issuer.tokens(issuer.register())["access_token"]
        assert claims(token)["exp"] < time.time()

        response = introspect(issuer, token, ("demo", secret))

        assert response.json() == {"active": False}


class TestCallerAuthentication:
    def test_an_unauthenticated_caller_is_a_401(self, demo: Issuer):
        """AS-42, RFC 7662 §2.1: the endpoint requires caller authentication."""
        response = demo.post_form(demo.url + "/introspect", {"token": "anything"})

        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
        assert response.headers["www-authenticate"] == f'Basic realm="{demo.url}"'

    def test_a_wrong_secret_is_a_401(self, demo: Issuer, demo_secret: str):
        """RFC 7662 §2.1: only the MCP server's own secret authenticates it."""
        token = demo.tokens(demo.register())["access_token"]

        response = introspect(demo, token, ("demo", "not-the-secret"))

        assert response.status_code == 401

    def test_a_client_is_not_a_resource_server(self, demo: Issuer, demo_secret: str):
        """RFC 7662 §2.1: an OAuth client's credentials do not let it introspect."""
        client = demo.register(token_endpoint_auth_method="client_secret_basic")
        token = demo.tokens(client)["access_token"]

        response = introspect(demo, token, (client.client_id, str(client.client_secret)))

        assert response.status_code == 401

    def test_a_new_secret_replaces_the_old_one_at_once(self, demo_as: AuthorizationServer, other: Issuer):
        """`mcp-servers credentials ID` rotates: the running server accepts only the newest secret."""
        old = new_mcp_server_secret(demo_as, OTHER_SERVER_ID)
        new = new_mcp_server_secret(demo_as, OTHER_SERVER_ID)

        statuses = [introspect(other, "x", (OTHER_SERVER_ID, secret)).status_code for secret in (old, new)]

        assert statuses == [401, 200]

    def test_credentials_for_an_unknown_mcp_server_are_refused(self, demo_as: AuthorizationServer):
        """`mcp-servers credentials ID` names an MCP server that exists, or prints no secret."""
        result = demo_as.cli("mcp-servers", "credentials", "no-such-server", check=False)

        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == "authorization_server: no MCP server with id 'no-such-server'\n"

    def test_the_metadata_advertises_the_endpoint(self, demo: Issuer, demo_as: AuthorizationServer):
        """RFC 8414 §2: introspection_endpoint and its auth methods, per issuer."""
        document: dict[str, Any] = demo.http.get(
            f"{demo_as.url}/.well-known/oauth-authorization-server/mcp/demo"
        ).json()

        assert document["introspection_endpoint"] == f"{demo.url}/introspect"
        assert document["introspection_endpoint_auth_methods_supported"] == [
            "client_secret_basic",
            "client_secret_post",
        ]


def introspected_steps(server: AuthorizationServer, client_id: str) -> list[str]:
    """The details of the ``token_introspected`` steps of the client's journey, in order."""
    journey = journey_of(server.db, client_id)
    found = rows(
        server.db,
        "SELECT detail FROM journey_events WHERE journey_id = ? AND step = 'token_introspected' ORDER BY id",
        journey["id"],
    )
    return [row["detail"] for row in found]


class TestTheJourneyRecordsTheMcpServersFirstCheck:
    """Issue 17: "when the MCP server checks tokens by introspection, the journey records its first check"."""

    def test_issue_17_the_first_check_of_a_token_is_one_step_and_later_checks_add_none(
        self, demo_as: AuthorizationServer, demo: Issuer, demo_secret: str
    ):
        """Issue 17, RFC 7662 §2: three checks of one token, one `token_introspected` step naming its jti."""
        client = demo.register()
        token = demo.tokens(client)["access_token"]

        answers = [introspect(demo, token, ("demo", demo_secret)).json()["active"] for _ in range(3)]

        assert answers == [True, True, True]
        jti = claims(token)["jti"]
        assert introspected_steps(demo_as, client.client_id) == [
            f"MCP server demo checked access token {jti} for the first time: active"
        ]

    def test_issue_17_each_new_access_token_gets_its_own_first_check(
        self, demo_as: AuthorizationServer, demo: Issuer, demo_secret: str
    ):
        """Issue 17: once per access token jti (RFC 9068 §2.2), so a refreshed token's first check is a step too."""
        client = demo.register()
        first = demo.tokens(client)
        second = demo.refresh(client, first["refresh_token"]).json()

        for token in (first["access_token"], second["access_token"], first["access_token"], second["access_token"]):
            introspect(demo, token, ("demo", demo_secret))

        jtis = [claims(token["access_token"])["jti"] for token in (first, second)]
        assert [detail.split()[6] for detail in introspected_steps(demo_as, client.client_id)] == jtis
        journey = journey_of(demo_as.db, client.client_id)
        assert steps(demo_as.db, journey["id"])[-3:] == ["token_refreshed", "token_introspected", "token_introspected"]

    def test_issue_17_an_inactive_answer_records_nothing(
        self, demo_as: AuthorizationServer, demo: Issuer, other: Issuer, demo_secret: str
    ):
        """Issue 17, RFC 7662 §2.2: another MCP server asking about the token, or a revoked one, adds no step."""
        other_secret = new_mcp_server_secret(demo_as, OTHER_SERVER_ID)
        client = demo.register()
        tokens = demo.tokens(client)
        introspect(other, tokens["access_token"], (OTHER_SERVER_ID, other_secret))
        demo.revoke(client, tokens["refresh_token"])

        introspect(demo, tokens["access_token"], ("demo", demo_secret))

        assert introspected_steps(demo_as, client.client_id) == []
