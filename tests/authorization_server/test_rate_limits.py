"""Rate limits on registration, token, revocation, introspection and sign-in, keyed so one shared address does not lock
everyone out (AS-49, RFC 7591 §5, RFC 6585 §4, USER-NEEDS theme 4).

Each test starts its own server with small limits (``as_options``); every request comes from
127.0.0.1, which plays the shared egress address.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from mcp_authz.authorization_server import clock
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import PUBLIC_CLIENT, Issuer, Param, Registered
from tests.conftest import new_mcp_server_secret

as_options = pytest.mark.as_options


def wait_of(refused: httpx2.Response, period: int) -> int:
    """The ``Retry-After`` of a 429: whole seconds, at most one bucket refill (``period`` s) away.

    The exact number depends on how long the requests before took (a password check takes a
    moment), so the tests read it here and then expect exactly it in the message.
    """
    assert refused.status_code == 429, refused.text
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= period
    return wait


@pytest.fixture(name="limited_demo")
def _limited_demo(tmp_path: Path, mcp_port: int, demo: Issuer, request: pytest.FixtureRequest) -> Iterator[Issuer]:
    """The demo issuer of a demo-mode server of this test's own, started with the test's ``as_options``."""
    marker = request.node.get_closest_marker("as_options")
    server = start_authorization_server(tmp_path, *(marker.args if marker else ()), mcp_port=mcp_port)
    registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
    yield Issuer(demo.http, server.issuer_for("demo"), registration, resource=demo.resource)
    server.program.stop()


def refresh_naming(
    issuer: Issuer, client_id: str, *, headers: dict[str, str] | None = None, **credentials: str
) -> httpx2.Response:
    """A refresh that names ``client_id`` with whatever credentials an attacker has (none, a guess)."""
    form: dict[str, Param] = {"grant_type": "refresh_token", "refresh_token": "guessed", "client_id": client_id}
    form |= credentials
    return issuer.post_token(form, headers=headers)


def bogus_code(issuer: Issuer, client: Registered) -> httpx2.Response:
    """A token request that gets as far as the grant: a registered client, a code that never was."""
    return issuer.post_token(
        {"grant_type": "authorization_code", "client_id": client.client_id, "code": "never-issued"}
    )


class TestRegistration:
    @as_options("--rate-limit-register", "2/min")
    def test_registrations_over_the_limit_get_429_with_retry_after(
        self, fresh_as: AuthorizationServer, http: httpx2.Client
    ):
        """AS-49, RFC 7591 §5, RFC 6585 §4: the third registration from one address within the minute is refused."""
        answers = [http.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT) for _ in range(3)]

        assert [answer.status_code for answer in answers] == [201, 201, 429]
        wait = wait_of(answers[2], 30)
        assert answers[2].headers["access-control-allow-origin"] == "*"
        assert answers[2].json() == {
            "error": "too_many_requests",
            "error_description": f"Too many registrations from this address. Try again in {wait} s.",
        }

    @as_options("--rate-limit-register", "1/3s")
    def test_the_bucket_refills_over_its_period(self, fresh_as: AuthorizationServer, http: httpx2.Client):
        """RFC 6585 §4: a refused client that waits as long as Retry-After says gets through."""
        with clock.frozen():  # the in-process server's buckets read this clock
            first = http.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT)
            refused = http.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT)
            clock.advance(wait_of(refused, 3))
            after_the_wait = http.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT)

        assert [first.status_code, refused.status_code, after_the_wait.status_code] == [201, 429, 201]


class TestToken:
    @as_options("--rate-limit-token-client", "2/min")
    def test_one_busy_client_does_not_lock_out_another_behind_the_same_address(self, fresh_root: Issuer):
        """USER-NEEDS theme 4: the token limit counts per client_id, so a shared egress address stays usable."""
        busy, other = fresh_root.register(), fresh_root.register()

        busy_answers = [bogus_code(fresh_root, busy).status_code for _ in range(3)]
        other_answer = bogus_code(fresh_root, other)

        assert busy_answers == [400, 400, 429]
        assert (other_answer.status_code, other_answer.json()["error"]) == (400, "invalid_grant")

    @as_options("--rate-limit-token-ip", "3/min")
    def test_the_looser_per_address_limit_covers_every_client(self, fresh_root: Issuer):
        """RFC 6585 §4: past the address's limit, any client from it waits, and is told how long."""
        clients = [fresh_root.register() for _ in range(4)]

        answers = [bogus_code(fresh_root, client) for client in clients]

        assert [answer.status_code for answer in answers] == [400, 400, 400, 429]
        wait = wait_of(answers[3], 20)
        assert (
            answers[3].json()["error_description"]
            == f"Too many token requests from this address. Try again in {wait} s."
        )

    @as_options("--rate-limit-token-client", "3/min")
    def test_naming_a_confidential_client_without_its_secret_does_not_spend_its_limit(self, limited_demo: Issuer):
        """Issue 11 item 3, OAuth 2.1 §3.2.1: the client's bucket is spent only once it authenticated.

        Anyone may name a client_id; many requests naming the victim with no secret or a wrong one
        are 401 each (the per-address limit is what stops them), and the victim's own refresh
        still gets its new pair instead of a 429.
        """
        victim = limited_demo.register(token_endpoint_auth_method="client_secret_post")
        refresh_token = limited_demo.tokens(victim)["refresh_token"]

        wrong_secret = [refresh_naming(limited_demo, victim.client_id, client_secret="guess") for _ in range(5)]
        no_secret = [refresh_naming(limited_demo, victim.client_id) for _ in range(5)]
        real = limited_demo.refresh(victim, refresh_token)

        assert {answer.status_code for answer in wrong_secret + no_secret} == {401}
        assert real.status_code == 200, real.text

    @as_options("--rate-limit-token-client", "2/min", "--trusted-proxies", "127.0.0.1")
    def test_naming_a_public_client_from_another_address_does_not_spend_its_limit(self, limited_demo: Issuer):
        """Issue 11 item 3: a public client proves nothing, so its bucket is its client_id at one address.

        127.0.0.1 plays a trusted proxy: the attacker's requests arrive forwarded for 203.0.113.66
        and run out their own bucket; the victim, at its own address, refreshes as usual.
        """
        victim = limited_demo.register()
        refresh_token = limited_demo.tokens(victim)["refresh_token"]
        elsewhere = {"X-Forwarded-For": "203.0.113.66"}

        attacks = [refresh_naming(limited_demo, victim.client_id, headers=elsewhere) for _ in range(4)]
        real = limited_demo.refresh(victim, refresh_token)

        assert [answer.status_code for answer in attacks] == [400, 400, 429, 429]
        assert real.status_code == 200, real.text

    @as_options("--rate-limit-token-ip", "3/min")
    def test_requests_that_fail_authentication_still_spend_the_address_limit(self, fresh_root: Issuer):
        """Issue 11 item 3, RFC 6585 §4: before authentication the per-address limit holds, wrong secrets included."""
        victim = fresh_root.register(token_endpoint_auth_method="client_secret_basic")

        answers = [refresh_naming(fresh_root, victim.client_id, client_secret="guess") for _ in range(4)]

        assert [answer.status_code for answer in answers] == [401, 401, 401, 429]
        assert answers[3].json()["error_description"].startswith("Too many token requests from this address.")


class TestRevocation:
    @as_options("--rate-limit-revoke", "2/min")
    def test_rfc7009_s2_revocation_requests_over_the_address_limit_get_429_with_retry_after(self, limited_demo: Issuer):
        """RFC 7009 §2 (the endpoint resists token scanning, "MAY use ... rate limiting"), RFC 6585 §4: every
        revocation request from one address spends its bucket, whatever the token; the third within the
        minute is a 429 with Retry-After and the OAuth error JSON, even for a real token, which is left as it
        was: its refresh still gets a new pair."""
        client = limited_demo.register()
        refresh_token = limited_demo.tokens(client)["refresh_token"]

        guesses = [limited_demo.revoke(client, f"guessed-{i}") for i in range(2)]
        real = limited_demo.revoke(client, refresh_token)

        assert [answer.status_code for answer in [*guesses, real]] == [200, 200, 429]
        wait = wait_of(real, 30)
        assert real.json() == {
            "error": "too_many_requests",
            "error_description": f"Too many revocation requests from this address. Try again in {wait} s.",
        }
        assert limited_demo.refresh(client, refresh_token).status_code == 200


class TestIntrospection:
    @as_options("--rate-limit-introspect-failures", "2/min")
    def test_rfc7662_s4_failed_introspection_authentications_are_limited_per_address(
        self, fresh_as: AuthorizationServer, fresh_root: Issuer
    ):
        """RFC 7662 §4 (the server SHOULD protect against token scanning), RFC 6585 §4: an MCP server's own
        introspections spend nothing, however many; wrong secrets from one address do, and past the limit every
        introspection from there, the right secret's too, is a 429 with Retry-After and the OAuth error JSON."""
        fresh_as.cli(
            "mcp-servers", "add", "--id", "notes", "--resource", "http://localhost:8111/mcp", "--scopes", "notes:read"
        )
        secret = new_mcp_server_secret(fresh_as, "notes")
        introspection = fresh_root.url + "/introspect"

        def introspect(password: str) -> httpx2.Response:
            return fresh_root.post_form(introspection, {"token": "guessed"}, auth=("notes", password))

        allowed = [introspect(secret) for _ in range(4)]
        wrong = [introspect("guess") for _ in range(3)]
        right_after = introspect(secret)

        assert [answer.status_code for answer in allowed] == [200] * 4
        assert [answer.status_code for answer in wrong] == [401, 401, 429]
        wait = wait_of(wrong[2], 30)
        assert wrong[2].json() == {
            "error": "too_many_requests",
            "error_description": (
                f"Too many failed introspection authentications from this address. Try again in {wait} s."
            ),
        }
        assert right_after.status_code == 429


class TestSignIn:
    @as_options("--rate-limit-login", "2/min")
    def test_attempts_for_one_username_are_limited_and_another_username_goes_on(self, notes: Issuer):
        """USER-NEEDS theme 4: sign-in counts per address and username; the page says how long to wait."""
        form = notes.sign_in_form()

        tries = [notes.sign_in(form, ALICE, "wrong password") for _ in range(3)]
        someone_else = notes.sign_in(form, "bob", "wrong password")

        assert [answer.status_code for answer in tries] == [200, 200, 429]
        wait = wait_of(tries[2], 30)
        assert f"Too many sign-in attempts for this username from this address. Try again in {wait} s." in tries[2].text
        assert someone_else.status_code == 200
        assert "Wrong username or password." in someone_else.text

    @as_options("--rate-limit-login-ip", "2/min")
    def test_the_looser_per_address_limit_covers_every_username(self, notes: Issuer):
        """RFC 6585 §4: past the address's sign-in limit, even the right password waits."""
        form = notes.sign_in_form()

        tries = [notes.sign_in(form, name, "wrong password") for name in ("bob", "carol")]
        right = notes.sign_in(form, ALICE, ALICE_PASSWORD)

        assert [answer.status_code for answer in tries] == [200, 200]
        wait = wait_of(right, 30)
        assert f"Too many sign-in attempts from this address. Try again in {wait} s." in right.text
