"""Concurrency (issue 6, reliability): many clients at once, and the command line writing meanwhile.

Decision 0005: one connection, one transaction per unit of work. So no request ever sees
"database is locked", and none waits on a lock that its own request holds. Issue 14: the units
run on the event loop's thread, and the loop never waits for a write lock another process holds.
"""

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx2
import pytest

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.mcp_servers.cache import McpServerCache
from scripts.reliability.load import Target, run
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import PUBLIC_CLIENT, Issuer

FLOWS_AT_ONCE = 50


class TestManyClients:
    def test_fifty_full_flows_at_once_all_succeed_without_a_server_error_or_a_locked_database(
        self, demo_as: AuthorizationServer
    ):
        """Issue 6: 50 concurrent register-authorize-token-refresh flows: all succeed, no 5xx, no lock errors."""
        seen = run(Target(demo_as.url), workers=FLOWS_AT_ONCE, flows=1)

        assert dict(seen.statuses) == {201: FLOWS_AT_ONCE, 303: FLOWS_AT_ONCE, 200: 2 * FLOWS_AT_ONCE}
        log = demo_as.program.log()
        assert "database is locked" not in log
        assert "Traceback" not in log


class TestCommandLineMeanwhile:
    def test_the_command_line_writing_during_load_never_meets_a_locked_database(self, tmp_path: Path):
        """Decision 0005, issue 6: the CLI's connection and the server's take turns; neither sees a lock error."""
        server = start_authorization_server(tmp_path)
        try:
            with ThreadPoolExecutor(1) as cli:
                writes = [cli.submit(server.cli, "users", "add", f"user{n}", input="a long password\n") for n in (1, 2)]
                seen = run(Target(server.url), workers=20, flows=8)  # about 2 s: overlaps both CLI runs
            log = server.program.log()
        finally:
            server.program.stop()

        assert [write.result().returncode for write in writes] == [0, 0]
        assert not any(status >= 500 for status in seen.statuses)
        assert "database is locked" not in log

    def test_a_sign_in_page_opened_after_the_command_line_wrote_is_answered(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Decision 0005: a cache reload inside a request's transaction joins it instead of deadlocking."""
        with clock.frozen():  # the in-process server's cache reads this clock
            login = notes_as.url + notes.authorize(notes.register()).headers["location"]
            notes_as.cli("users", "add", "bob", input="another horse battery\n")  # another connection commits
            clock.advance(McpServerCache.CHECK_INTERVAL)  # the next lookup reads the change versions

            response = notes.http.get(login, timeout=httpx2.Timeout(5))

        assert response.status_code == 200


#: Issue 14: "a command-line write holding the lock for 5 s".
HOLD_SECONDS = 5.0
#: What a registration writes (RFC 7591 §3.2.1): none of it may stay behind a refused one.
REGISTRATION_TABLES = ("clients", "authorization_journeys", "journey_events", "mcp_authorization_flows")


def rows(db: Path, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows per table, as another connection sees them committed."""
    with closing(sqlite3.connect(db)) as other:
        return {table: other.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}  # noqa: S608


@pytest.mark.sqlite_only("holds SQLite's write lock from another connection; PostgreSQL locks rows")
class TestTheLoopNeverWaitsForTheWriteLock:
    """Issue 14 (first lever), decision 0005: units of work run on the event loop's thread with ``busy_timeout``
    0, so a write lock held by another process delays only the units that write, never the loop."""

    @pytest.mark.as_options("--db-timeout", "30")
    def test_issue_14_decision_0005_a_write_lock_held_5_s_elsewhere_delays_no_metadata_jwks_or_read(
        self, fresh_as: AuthorizationServer, http: httpx2.Client
    ):
        """Issue 14: while a command-line write holds the lock for 5 s, the metadata (RFC 8414 §3), the JWK Set
        and a read that needs no lock (RFC 7592 §2.1 client read) are answered before it is released; a
        registration (RFC 7591 §3) that needs the lock waits without an error and is answered after."""
        registered = http.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT).json()
        events: list[str] = []
        locked = threading.Event()

        def command_line_write() -> None:
            with closing(sqlite3.connect(fresh_as.db, isolation_level=None)) as other:
                other.execute("BEGIN IMMEDIATE")
                locked.set()
                time.sleep(HOLD_SECONDS)  # the slow command line of issue 14, not a wait for the server
                events.append("releasing")
                other.execute("COMMIT")

        def register() -> int:
            status = httpx2.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT, timeout=60).status_code
            events.append("registered")
            return status

        with ThreadPoolExecutor(2) as threads:
            holder = threads.submit(command_line_write)
            assert locked.wait(10)
            writer = threads.submit(register)
            reads = {
                "metadata": f"{fresh_as.url}/.well-known/oauth-authorization-server",
                "jwks": f"{fresh_as.url}/jwks.json",
                "client read": registered["registration_client_uri"],
            }
            bearer = {"Authorization": f"Bearer {registered['registration_access_token']}"}
            for name, url in reads.items():
                assert http.get(url, headers=bearer).status_code == 200, name
                events.append(name)
            holder.result()
            status = writer.result()

        assert events == ["metadata", "jwks", "client read", "releasing", "registered"]
        assert status == 201

    @pytest.mark.as_options("--db-timeout", "1")
    def test_issue_14_decision_0005_a_write_lock_held_beyond_db_timeout_is_503_and_nothing_is_half_written(
        self, fresh_as: AuthorizationServer, http: httpx2.Client
    ):
        """Issue 14: a registration whose unit waits for the write lock past ``--db-timeout`` is 503
        ``temporarily_unavailable`` with ``Retry-After`` (RFC 6749 §4.1.2.1, RFC 9110 §15.6.4), none of its rows
        stay; the next one, the lock freed, registers."""
        before = rows(fresh_as.db, REGISTRATION_TABLES)
        with closing(sqlite3.connect(fresh_as.db, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # held until the server has answered
            refused = http.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT)
            other.execute("COMMIT")

        assert refused.status_code == 503
        assert refused.json()["error"] == "temporarily_unavailable"
        assert refused.headers["retry-after"] == "2"
        assert rows(fresh_as.db, REGISTRATION_TABLES) == before
        assert http.post(f"{fresh_as.url}/register", json=PUBLIC_CLIENT).status_code == 201
