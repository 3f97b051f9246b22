"""Concurrency (issue 6, reliability): many clients at once, and the command line writing meanwhile.

Decision 0005: one connection, one transaction per unit of work. So no request ever sees
"database is locked", and none waits on a lock that its own request holds.
"""

import time

import httpx2

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import Issuer


class TestCommandLineMeanwhile:
    def test_a_sign_in_page_opened_after_the_command_line_wrote_is_answered(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Decision 0005: a cache reload inside a request's transaction joins it instead of deadlocking."""
        login = notes_as.url + notes.authorize(notes.register()).headers["location"]
        notes_as.cli("users", "add", "bob", input="another horse battery\n")  # another connection commits
        time.sleep(1.1)  # McpServerService.CHECK_INTERVAL: the next lookup asks SQLite what changed

        response = notes.http.get(login, timeout=httpx2.Timeout(5))

        assert response.status_code == 200
