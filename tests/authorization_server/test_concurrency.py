"""Concurrency (issue 6, reliability): many clients at once, and the command line writing meanwhile.

Decision 0005: one connection, one transaction per unit of work. So no request ever sees
"database is locked", and none waits on a lock that its own request holds.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.mcp_servers.cache import McpServerCache
from scripts.reliability.load import Target, run
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import Issuer

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
