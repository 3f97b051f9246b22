"""The checks on the authorization response, end to end (CL-18, CL-23; RFC 9207 §2.4).

The real authorization server always sends the right ``state`` and ``iss``, so these tests run
the client against the fake stack, which sends what each test asks. A response that passes the
checks leads to the token request, which the fake then refuses (exit 7): that proves the code
went on; a response that fails them stops the run before any token request (exit 6).
"""

from pathlib import Path

import pytest

from tests.client.fake_stack import FakeStack
from tests.client.running import run_client

TOKEN_REQUEST = "POST /as/token"


class TestIss:
    """CL-23, RFC 9207 §2.4: the four rows of the iss check, compared as exact strings."""

    def test_the_right_iss_is_accepted(self, fake: FakeStack, tmp_path: Path) -> None:
        """Flag true and iss equal to the issuer: the code goes to the token endpoint."""
        fake.reset(token_error="invalid_grant")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 7, run.describe()
        assert "iss is exactly the issuer (promised by the metadata): accepted" in run.stdout
        assert TOKEN_REQUEST in fake.requests

    def test_another_issuer_is_rejected(self, fake: FakeStack, tmp_path: Path) -> None:
        """Flag true and iss naming another issuer: exit 6, and the code is sent nowhere."""
        fake.reset(iss="http://localhost:1/evil")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 6, run.describe()
        assert run.stderr == (
            f"error: the authorization response comes from the issuer 'http://localhost:1/evil', not "
            f"'{fake.issuer}': possible mix-up attack, the response is not used (RFC 9207 §2.4)\n"
        )
        assert TOKEN_REQUEST not in fake.requests

    def test_a_trailing_slash_is_another_issuer(self, fake: FakeStack, tmp_path: Path) -> None:
        """No normalisation: the issuer with a trailing slash is rejected."""
        fake.reset(iss=fake.issuer + "/")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 6, run.describe()
        assert TOKEN_REQUEST not in fake.requests

    def test_a_missing_iss_is_rejected_when_promised(self, fake: FakeStack, tmp_path: Path) -> None:
        """Flag true and no iss: exit 6."""
        fake.reset(iss=None)
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 6, run.describe()
        assert "advertises authorization_response_iss_parameter_supported, but the response has no iss" in run.stderr
        assert TOKEN_REQUEST not in fake.requests

    def test_an_unpromised_iss_is_still_compared(self, fake: FakeStack, tmp_path: Path) -> None:
        """Flag false and a wrong iss: exit 6."""
        fake.reset(iss_supported=False, iss="http://localhost:1/evil")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 6, run.describe()
        assert TOKEN_REQUEST not in fake.requests

    def test_no_flag_and_no_iss_is_accepted(self, fake: FakeStack, tmp_path: Path) -> None:
        """Flag false and no iss: the code goes to the token endpoint."""
        fake.reset(iss_supported=False, iss=None, token_error="invalid_grant")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 7, run.describe()
        assert "no iss, and the metadata does not promise one: accepted" in run.stdout
        assert TOKEN_REQUEST in fake.requests

    def test_an_error_with_the_wrong_iss_is_not_shown(self, fake: FakeStack, tmp_path: Path) -> None:
        """On an iss mismatch, the response's error and description are neither acted on nor shown."""
        fake.reset(iss="http://localhost:1/evil", error="access_denied", error_description="Call 555-0100 now")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 6, run.describe()
        assert "possible mix-up attack" in run.stderr
        assert "555-0100" not in run.output
        assert "access_denied" not in run.stderr


class TestState:
    """CL-18, OAuth 2.1 §7.12: a response without this request's state is not used."""

    @pytest.mark.parametrize(
        ("state", "message"),
        [
            ("forged-state", "the authorization response's state is not the one sent"),
            (None, "the authorization response has no state"),
        ],
    )
    def test_a_wrong_or_missing_state_stops_the_run(
        self, fake: FakeStack, tmp_path: Path, state: str | None, message: str
    ) -> None:
        """Exit 6 before the token request."""
        fake.reset(state=state)
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 6, run.describe()
        assert run.stderr.startswith(f"error: {message}")
        assert TOKEN_REQUEST not in fake.requests


class TestDenied:
    """OAuth 2.1 §4.1.2.1: an error response, once checked, is shown with the server's description."""

    def test_access_denied_is_reported(self, fake: FakeStack, tmp_path: Path) -> None:
        """access_denied with the right state and iss: exit 6 with the server's description."""
        fake.reset(error="access_denied", error_description="the user said no")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 6, run.describe()
        assert run.stderr == "error: access_denied: the user said no\n"
