"""Restarts and crashes of the authorization server (issue 6, reliability).

Everything a flow needs between two requests lives in SQLite, so a flow started before a clean
restart finishes after it, and a kill -9 loses nothing the server acknowledged. The long crash
run is ``python -m scripts.reliability.crash`` (docs/reliability.md); this is its quick variant.
"""

from pathlib import Path

import httpx2

from scripts.reliability.crash import crash_cycle
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import Issuer, csrf_token, redirect_params


def restart(server: AuthorizationServer) -> None:
    """A clean restart (SIGINT, then the same command: same port, same database)."""
    server.program.stop()
    server.program.start()


class TestCleanRestart:
    def test_a_code_and_a_refresh_token_issued_before_a_restart_are_redeemed_after_it(
        self, tmp_path: Path, http: httpx2.Client
    ):
        """Issue 6: codes and refresh tokens are rows, not memory; a restart in between changes nothing."""
        server = start_authorization_server(tmp_path)
        try:
            registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
            demo = Issuer(http, server.issuer_for("demo"), registration, resource="http://localhost:8000/mcp")
            client = demo.register()
            code = demo.code(client)
            refresh_token = demo.tokens(client)["refresh_token"]

            restart(server)

            assert demo.exchange(client, code).status_code == 200
            assert demo.refresh(client, refresh_token).status_code == 200
        finally:
            server.program.stop()

    def test_a_sign_in_started_before_a_restart_completes_after_it(self, notes_as: AuthorizationServer, notes: Issuer):
        """Issue 6, OAuth 2.1 §4.1: the interaction, its browser binding and CSRF token survive a restart."""
        client = notes.register()
        login = notes.http.get(notes_as.url + notes.authorize(client).headers["location"])

        restart(notes_as)

        form = {"csrf_token": csrf_token(login), "username": ALICE, "password": ALICE_PASSWORD}
        consent_path = notes.http.post(str(login.url), data=form).headers["location"]
        consent = notes.http.get(notes_as.url + consent_path)
        back = notes.http.post(str(consent.url), data={"csrf_token": csrf_token(consent), "decision": "allow"})
        assert back.status_code == 303
        assert "code" in redirect_params(back)


class TestCrash:
    def test_a_kill_9_under_load_loses_nothing_the_server_acknowledged(self, tmp_path: Path):
        """Issue 6: after kill -9 mid-load, integrity is ok and acknowledged clients and tokens are all there."""
        server = start_authorization_server(tmp_path)
        try:
            # On a busy machine 1.5 s may end before any flow reached its refresh token: crash again.
            for _ in range(5):
                seen, verdict = crash_cycle(server, workers=8, seconds=1.5)
                assert verdict.ok, verdict
                if seen.refresh_tokens:
                    break
        finally:
            server.program.stop()

        assert len(seen.client_ids) > 0 and len(seen.refresh_tokens) > 0
