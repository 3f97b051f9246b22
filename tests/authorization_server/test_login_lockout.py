"""Locking a username after repeated failed passwords from one address, without telling whether it
exists (OAuth 2.1 §7.2, RFC 9700 §4.16, issue 11 item 9)."""

from dataclasses import replace

import httpx2
import pytest

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.accounts.lockout import MAX_LOCK, FailureLock, LoginLockout
from mcp_authz.authorization_server.db import Database
from mcp_authz.authorization_server.journeys.service import MAX_SIGN_IN_STEPS
from scripts.stack import AuthorizationServer
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import Issuer, SignInForm, rows, steps


@pytest.mark.as_options("--login-lockout-failures", "3")
@pytest.mark.parametrize("username", [ALICE, "nobody"], ids=["a real user", "an unknown name"])
def test_a_username_is_locked_after_repeated_failures_even_for_the_right_password(notes: Issuer, username: str):
    """OAuth 2.1 §7.2: the third failure locks the name from this address for 15 minutes; real and unknown alike."""
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


def sign_in_from(notes: Issuer, form: SignInForm, address: str, password: str) -> httpx2.Response:
    """Post the sign-in form as if the trusted proxy forwarded it from ``address`` (decision 0019)."""
    fields = {"csrf_token": form.csrf_token, "username": ALICE, "password": password}
    return notes.http.post(form.url, data=fields, headers={"X-Forwarded-For": address})


@pytest.mark.as_options("--trusted-proxies", "127.0.0.1")
def test_failures_from_one_address_do_not_lock_the_right_password_out_from_another(notes: Issuer):
    """Issue 11 item 9, OAuth 2.1 §7.2: the lock is per username and address, so an attacker locks only itself out."""
    form = notes.sign_in_form()

    attacker = [sign_in_from(notes, form, "203.0.113.7", "wrong password").status_code for _ in range(7)]
    attacker_right = sign_in_from(notes, form, "203.0.113.7", ALICE_PASSWORD)
    owner = sign_in_from(notes, form, "198.51.100.9", ALICE_PASSWORD)

    assert attacker == [200] * 5 + [429] * 2
    assert attacker_right.status_code == 429
    assert owner.status_code == 303


class TestGrowingLocks:
    """Issue 11 item 9: each new lock of the same username and address lasts twice as long (up to a day).

    The counts live in the database (issue 13), so these run on one, with the clock held still."""

    @pytest.mark.anyio
    async def test_each_lock_of_a_pair_doubles_and_a_right_password_starts_over(self, db: Database):
        """Issue 11 item 9 ("growing delays"), RFC 9700 §4.16: 15 min, 30 min, 1 h for one username and
        address; another address is never locked by them; the right password starts the count over."""
        lockout = LoginLockout(failures=5, window=900, duration=900)
        waits = []
        with clock.frozen():
            for _ in range(3):
                for _ in range(5):
                    await db.run(lambda tx: lockout.failed(tx, ALICE, "203.0.113.7"))
                waits.append(await db.run(lambda tx: lockout.wait(tx, ALICE, "203.0.113.7")))
                clock.advance(waits[-1])

            other_address = await db.run(lambda tx: lockout.wait(tx, ALICE, "198.51.100.9"))  # never locked
            await db.run(lambda tx: lockout.succeeded(tx, ALICE, "203.0.113.7"))
            for _ in range(5):
                await db.run(lambda tx: lockout.failed(tx, ALICE, "203.0.113.7"))
            again = await db.run(lambda tx: lockout.wait(tx, ALICE, "203.0.113.7"))

        assert waits == [900, 1800, 3600]
        assert other_address == 0
        assert again == 900

    @pytest.mark.anyio
    async def test_a_lock_grows_to_a_day_at_most(self, db: Database):
        """Issue 11 item 9: the doubling stops at a day (MAX_LOCK): no lock lasts longer."""
        lock = FailureLock("test", failures=1, window=900, duration=900)
        waits = []
        with clock.frozen():
            for _ in range(10):
                waits.append(await db.run(lambda tx: lock.failed(tx, "key")))
                clock.advance(waits[-1])

        assert max(waits) == MAX_LOCK == 24 * 3600


def sign_in_steps(notes_as: AuthorizationServer) -> list[tuple[str, str]]:
    """The steps of the one authorization waiting at the sign-in page, with their details."""
    [journey] = rows(notes_as.db, "SELECT id FROM authorization_journeys WHERE status = 'authorization_requested'")
    found = rows(notes_as.db, "SELECT step, detail FROM journey_events WHERE journey_id = ? ORDER BY id", journey["id"])
    return [(row["step"], row["detail"]) for row in found]


class TestTheJourneyRecordsFailedSignIns:
    """Issue 17, "journeys record failed sign-ins and lockouts": the operator's record of the sign-in page."""

    @pytest.mark.parametrize("username", [ALICE, "nobody"], ids=["a real user", "an unknown name"])
    def test_issue_17_a_failed_sign_in_is_a_step_naming_the_username_never_the_password(
        self, notes_as: AuthorizationServer, notes: Issuer, username: str
    ):
        """Issue 17: `sign_in_failed` shows the username as typed; a wrong password and an unknown user read alike."""
        form = notes.sign_in_form()

        answer = notes.sign_in(form, username, "hunter2 wrong password")

        assert answer.status_code == 200
        assert sign_in_steps(notes_as)[-1] == ("sign_in_failed", f"wrong username or password for {username!r}")
        assert not rows(notes_as.db, "SELECT 1 FROM journey_events WHERE detail LIKE '%hunter2%'")

    def test_issue_17_a_username_typed_with_control_characters_is_shown_escaped(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Issue 17: what a stranger typed cannot write escape sequences into the operator's terminal."""
        form = notes.sign_in_form()

        notes.sign_in(form, "eve\x1b[2J", "wrong password")

        assert sign_in_steps(notes_as)[-1] == ("sign_in_failed", "wrong username or password for 'eve\\x1b[2J'")

    @pytest.mark.as_options("--login-lockout-failures", "2")
    def test_issue_17_the_failure_that_locks_and_each_refusal_while_locked_are_sign_in_locked_steps(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Issue 17, RFC 9700 §4.16: the lock is recorded when it starts, and again for an attempt it refuses."""
        form = notes.sign_in_form()

        answers = [notes.sign_in(form, ALICE, "wrong password").status_code for _ in range(2)]
        refused = notes.sign_in(form, ALICE, ALICE_PASSWORD)

        assert answers == [200, 200]
        assert refused.status_code == 429
        assert sign_in_steps(notes_as)[1:] == [
            ("sign_in_failed", "wrong username or password for 'alice'"),
            ("sign_in_failed", "wrong username or password for 'alice'"),
            ("sign_in_locked", "'alice' locked at this address for 15 minutes after repeated failures"),
            ("sign_in_locked", "refused: 'alice' is locked at this address for 15 minutes more"),
        ]

    @pytest.mark.as_options("--login-lockout-failures", "100")
    def test_issue_17_the_sign_in_steps_of_one_journey_stay_bounded(self, notes_as: AuthorizationServer, notes: Issuer):
        """Issue 17, "everything stays bounded": at most MAX_SIGN_IN_STEPS failures recorded, the last one says so."""
        form = notes.sign_in_form()

        answers = {notes.sign_in(form, f"guess{n}", "wrong password").status_code for n in range(MAX_SIGN_IN_STEPS + 3)}

        recorded = [detail for step, detail in sign_in_steps(notes_as) if step == "sign_in_failed"]
        assert answers == {200}
        assert len(recorded) == MAX_SIGN_IN_STEPS
        assert recorded[-1] == (
            f"wrong username or password for 'guess{MAX_SIGN_IN_STEPS - 1}';"
            " later failed sign-ins of this authorization are not recorded"
        )

    def test_issue_17_the_journey_signed_in_after_a_failure_keeps_the_failure(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Issue 17: a slip, then the right password: the journey goes on, the slip stays in its record."""
        form = notes.sign_in_form()
        notes.sign_in(form, ALICE, "wrong password")

        signed_in = notes.sign_in(form, ALICE, ALICE_PASSWORD)

        assert signed_in.status_code == 303
        [journey] = rows(notes_as.db, "SELECT id FROM authorization_journeys WHERE status = 'authenticated'")
        assert steps(notes_as.db, journey["id"])[-2:] == ["sign_in_failed", "user_authenticated"]
