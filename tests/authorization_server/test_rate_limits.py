"""Rate limits on registration, token and sign-in, keyed so one shared address does not lock
everyone out (AS-49, RFC 7591 §5, RFC 6585 §4, USER-NEEDS theme 4).

Each test starts its own server with small limits (``as_options``); every request comes from
127.0.0.1, which plays the shared egress address.
"""

import time

import httpx2
import pytest

from scripts.stack import AuthorizationServer
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import PUBLIC_CLIENT, Issuer, Registered

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
        first = http.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT)
        refused = http.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT)
        time.sleep(wait_of(refused, 3))
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
