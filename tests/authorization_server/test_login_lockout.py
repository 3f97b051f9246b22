"""Locking a username after repeated failed passwords, without telling whether it exists
(OAuth 2.1 §7.2, RFC 9700 §4.16)."""

from dataclasses import replace

import httpx2
import pytest

from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import Issuer


@pytest.mark.as_options("--login-lockout-failures", "3")
@pytest.mark.parametrize("username", [ALICE, "nobody"], ids=["a real user", "an unknown name"])
def test_a_username_is_locked_after_repeated_failures_even_for_the_right_password(notes: Issuer, username: str):
    """OAuth 2.1 §7.2: the third failure locks the name for 15 minutes; a real and an unknown name look alike."""
    form = notes.sign_in_form()

    failures = [notes.sign_in(form, username, "wrong password") for _ in range(3)]
    locked = notes.sign_in(form, username, ALICE_PASSWORD)

    assert [answer.status_code for answer in failures] == [200, 200, 200]
    assert locked.status_code == 429
    assert 890 < int(locked.headers["retry-after"]) <= 900
    assert "Too many failed sign-ins for this username. Try again in 15 minutes." in locked.text
    assert "location" not in locked.headers


@pytest.mark.as_options("--login-lockout-failures", "2")
def test_a_right_password_clears_the_failures_counted_so_far(notes: Issuer):
    """OAuth 2.1 §7.2: a user who gets it right is not locked by one more slip later, in another browser."""
    first = notes.sign_in_form()
    slip = notes.sign_in(first, ALICE, "wrong password")
    right = notes.sign_in(first, ALICE, ALICE_PASSWORD)
    with httpx2.Client(follow_redirects=False, timeout=10) as other_browser:
        elsewhere = replace(notes, http=other_browser)
        second = elsewhere.sign_in_form()

        another_slip = elsewhere.sign_in(second, ALICE, "wrong password")
        right_again = elsewhere.sign_in(second, ALICE, ALICE_PASSWORD)

    assert [slip.status_code, right.status_code, another_slip.status_code] == [200, 303, 200]
    assert right_again.status_code == 303
