"""Dynamic registrations expire when idle, never while they hold a live grant, and come back
as 401 invalid_client so that clients register again (RFC 7591 §5; USER-NEEDS themes 1-3)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from mcp_authz.authorization_server import clock
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.conftest import mcp_issuer
from tests.authorization_server.flows import Issuer, Registered, execute, rows
from tests.authorization_server.test_consent_memory import approved
from tests.waiting import eventually

DAY = 24 * 3600


def unknown_at_token(issuer: Issuer, client: Registered) -> tuple[int, dict[str, str]]:
    response = issuer.post_token({"grant_type": "authorization_code", "client_id": client.client_id, "code": "x"})
    return response.status_code, response.json()


def rows_of(db: Path, client_id: str) -> dict[str, int]:
    """How many rows the database still holds for a client, table by table."""
    return {
        "clients": len(rows(db, "SELECT 1 FROM clients WHERE client_id = ?", client_id)),
        "mcp_authorization_flows": len(
            rows(db, "SELECT 1 FROM mcp_authorization_flows WHERE client_id = ?", client_id)
        ),
        "refresh_tokens": len(rows(db, "SELECT 1 FROM refresh_tokens WHERE client_id = ?", client_id)),
    }


class TestCleanupCommand:
    def test_an_idle_client_without_grants_is_deleted_with_its_journey_and_then_is_unknown_at_token(
        self, notes: Issuer, notes_as: AuthorizationServer
    ):
        """USER-NEEDS themes 1 and 3: `clients cleanup` deletes it and its journey; /token then answers 401."""
        with clock.frozen():  # the in-process server's and its command line's
            client = notes.register()
            clock.advance(1.1)

            result = notes_as.cli("--client-idle-ttl", "1", "clients", "cleanup")

        assert result.stdout == (
            f"deleted 1 client(s) idle for more than 1 s without live grants\n    {client.client_id}\n"
        )
        assert rows_of(notes_as.db, client.client_id) == {
            "clients": 0,
            "mcp_authorization_flows": 0,
            "refresh_tokens": 0,
        }
        assert rows(notes_as.db, "SELECT count(*) AS n FROM authorization_journeys")[0]["n"] == 0
        assert unknown_at_token(notes, client) == (
            401,
            {"error": "invalid_client", "error_description": "unknown client; register again"},
        )

    def test_a_token_issued_keeps_a_client_and_an_authorization_request_alone_does_not(
        self, notes: Issuer, notes_as: AuthorizationServer
    ):
        """USER-NEEDS theme 2, issue 11 item 4: the idle time counts from the last token issued (written at most
        hourly); an /authorize proves nothing about the client, so it no longer keeps one from expiring."""
        code_only = ["authorization_code"]  # no refresh token: nothing else keeps the client
        redeemed, requested, recent = (notes.register(grant_types=code_only) for _ in range(3))
        two_days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        half_an_hour_ago = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
        execute(notes_as.db, "UPDATE clients SET created_at = ?, last_used_at = ?", two_days_ago, two_days_ago)
        execute(
            notes_as.db, "UPDATE clients SET last_used_at = ? WHERE client_id = ?", half_an_hour_ago, recent.client_id
        )

        assert notes.exchange(redeemed, approved(notes, redeemed, "notes:read")).status_code == 200
        assert notes.exchange(recent, approved(notes, recent, "notes:read")).status_code == 200
        notes.authorize(requested)
        result = notes_as.cli("--client-idle-ttl", str(DAY), "clients", "cleanup")

        assert result.stdout.splitlines() == [
            f"deleted 1 client(s) idle for more than {DAY} s without live grants",
            f"    {requested.client_id}",
        ]
        last_used = {row["client_id"]: row["last_used_at"] for row in rows(notes_as.db, "SELECT * FROM clients")}
        assert set(last_used) == {redeemed.client_id, recent.client_id}
        assert datetime.now(UTC) - datetime.fromisoformat(last_used[redeemed.client_id]) < timedelta(minutes=1)
        assert last_used[recent.client_id] == half_an_hour_ago

    def test_clients_list_shows_each_client_and_its_last_use(self, fresh_root: Issuer, fresh_as: AuthorizationServer):
        """USER-NEEDS theme 1: the operator sees what is registered and what is stale."""
        client = fresh_root.register(client_name="Notes CLI")

        lines = fresh_as.cli("clients", "list").stdout.splitlines()

        assert lines[0] == f"{client.client_id}  'Notes CLI'  issuer {fresh_as.url}"
        assert lines[1] == "    none, grants authorization_code refresh_token"
        assert lines[2].startswith("    registered ") and lines[2].endswith(" UTC")
        assert lines[3] == "    redirect URIs http://127.0.0.1:8765/callback"


@pytest.fixture(name="expiring")
def _expiring(tmp_path: Path, mcp_port: int, http: httpx2.Client) -> Iterator[tuple[AuthorizationServer, Issuer]]:
    """A demo server whose clients are idle after 2 s and whose cleanup runs every second.

    In-process, so that a test moves its clock past the idle time; the cleanup still runs every real second."""
    server = start_authorization_server(
        tmp_path, "--client-idle-ttl", "2", "--client-cleanup-interval", "1", mcp_port=mcp_port, in_process=True
    )
    issuer = mcp_issuer(http, server, "demo", f"http://localhost:{mcp_port}/mcp")
    yield server, issuer
    server.program.stop()


class TestCleanupInTheServer:
    def test_the_server_deletes_an_idle_client_but_keeps_one_holding_a_live_refresh_token(
        self, expiring: tuple[AuthorizationServer, Issuer]
    ):
        """USER-NEEDS theme 2: a client with a live refresh token is never expired; the other one is."""
        server, demo = expiring
        with clock.frozen():
            holder, idle = demo.register(), demo.register()
            refresh_token = demo.tokens(holder)["refresh_token"]
            clock.advance(2.1)  # both idle now; the next round of cleanup, within a second, sees it

            eventually(lambda: not rows_of(server.db, idle.client_id)["clients"])

        assert rows_of(server.db, idle.client_id) == {"clients": 0, "mcp_authorization_flows": 0, "refresh_tokens": 0}
        assert unknown_at_token(demo, idle)[0] == 401
        assert rows_of(server.db, holder.client_id) == {"clients": 1, "mcp_authorization_flows": 1, "refresh_tokens": 1}
        assert demo.refresh(holder, refresh_token).status_code == 200
