"""Issue 17, the client, item 1: after the user revokes the app (any ``invalid_grant`` on refresh), the
client drops the dead tokens and authorizes again in the same run; a 401 ``invalid_token`` to a stored
token is refreshed once, then authorized anew (OAuth 2.1 §4.3, RFC 6749 §5.2, RFC 6750 §3.1, CL-29).

Before, a run whose stored access token was still valid while its grant was revoked failed at step 7
with exit 7, on every run until the access token expired.
"""

from pathlib import Path

import httpx2

from scripts.stack import AuthorizationServer, McpServer
from tests.client.fake_stack import FakeStack
from tests.client.running import edit_store, read_store, run_client

ALL_STEPS = ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]


def revoke_stored_grant(store: Path, mcp: McpServer) -> None:
    """What the user's "Revoke" does to this client's grant: its refresh token revoked with RFC 7009 §2.1."""
    document = read_store(store)
    held = document["tokens"][mcp.url][mcp.issuer]
    answer = httpx2.post(
        f"{mcp.issuer}/revoke",
        data={"token": held["refresh_token"], "token_type_hint": "refresh_token", "client_id": held["client_id"]},
    )
    assert answer.status_code == 200, answer.text


class TestRevokedGrant:
    def test_a_revoked_grant_is_authorized_again_in_the_same_run(self, tmp_path: Path, demo_mcp: McpServer) -> None:
        """Issue 17: the refresh at step 7 meets invalid_grant (RFC 6749 §5.2); the dead tokens are dropped,
        steps 4 and 5 run again, the new access token is used, and the run exits 0 (it exited 7 before)."""
        store = tmp_path / "store.json"
        assert run_client(demo_mcp.url, store).exit_code == 0
        before = read_store(store)["tokens"][demo_mcp.url][demo_mcp.issuer]
        revoke_stored_grant(store, demo_mcp)

        run = run_client(demo_mcp.url, store)

        assert run.exit_code == 0, run.describe()
        assert "the refresh failed: the token endpoint refused the request: invalid_grant" in run.stdout
        assert f"✓ the dead tokens for {demo_mcp.url} are forgotten from {store}" in run.stdout
        assert run.steps == [*ALL_STEPS, "4 authorize", "5 token"]
        authorized = run.requests.index(f"GET {demo_mcp.issuer}/authorize")
        assert run.requests[authorized + 1] == f"POST {demo_mcp.issuer}/token"
        assert set(run.requests[authorized + 2 :]) == {f"POST {demo_mcp.url}"}  # whoami with the new token
        after = read_store(store)["tokens"][demo_mcp.url][demo_mcp.issuer]
        assert after["refresh_token"] != before["refresh_token"]

        again = run_client(demo_mcp.url, store)  # and the next run is an ordinary one
        assert (again.exit_code, again.steps) == (0, ALL_STEPS), again.describe()

    def test_headless_with_a_sign_in_page_says_what_to_run(
        self, login_stack: tuple[AuthorizationServer, McpServer], tmp_path: Path
    ) -> None:
        """Issue 17: when the new authorization needs a person and --headless has none, the one error line
        says the tokens are forgotten and which command signs in again (exit 6)."""
        _, mcp_server = login_stack
        store = tmp_path / "store.json"
        assert run_client(mcp_server.url, store).exit_code == 6  # registered, then stopped at the sign-in page
        issuer = mcp_server.issuer
        client_id = read_store(store)["registrations"][issuer]["client_id"]
        edit_store(
            store,
            lambda doc: doc.setdefault("tokens", {}).update(
                {
                    mcp_server.url: {
                        issuer: {"client_id": client_id, "access_token": "x", "refresh_token": "dead", "expires_at": 1}
                    }
                }
            ),
        )

        run = run_client(mcp_server.url, store)

        assert run.exit_code == 6, run.describe()
        assert run.stderr == (
            "error: the authorization server refused the stored refresh token (the app was revoked, or the grant "
            "expired) and it is forgotten; signing in again needs a person: run python client.py --server-url "
            f"{mcp_server.url} --store {store} (without --headless)\n"
        )
        assert mcp_server.url not in read_store(store)["tokens"]


class TestRefusedStoredToken:
    def test_a_refused_token_is_refreshed_once_then_authorized_anew(self, fake: FakeStack, tmp_path: Path) -> None:
        """Issue 17, RFC 6750 §3.1: a stored token answered 401 invalid_token is refreshed once; when the
        refreshed one is refused too, the tokens are forgotten and the authorization runs again, once."""
        store = tmp_path / "store.json"
        run_client(fake.mcp_url, store)  # registers, and stops: the fake refuses every token
        edit_store(
            store,
            lambda doc: doc.setdefault("tokens", {}).update(
                {
                    fake.mcp_url: {
                        fake.issuer: {
                            "client_id": "fake-client",
                            "access_token": "stored",
                            "refresh_token": "rt",
                            "expires_at": 4102444800,
                        }
                    }
                }
            ),
        )
        fake.reset()

        run = run_client(fake.mcp_url, store)

        assert run.exit_code == 8, run.describe()
        assert [form["grant_type"] for form in fake.token_requests] == ["refresh_token", "authorization_code"]
        renewed = ["4 authorize", "5 token", "6 call"]
        assert run.steps == [*ALL_STEPS[:6], "1 discover", "3 register", *renewed, *renewed]
        assert "the refreshed access token is refused too: forget the tokens, authorize again" in run.stdout
