"""Issue 17, the command line's part: what an operator does after the demo, and its effect seen over HTTP.

`users list | remove | disable | enable | reset-password`, `mcp-servers update | remove`,
`clients delete`, and the start-up warning of a server with no MCP server or no user. A server
without demo mode, with the ``notes`` MCP server and user alice (``notes_as``), its command line
run beside it as an operator runs it.
"""

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from scripts.stack import AuthorizationServer
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD, NOTES_SERVER_ID
from tests.authorization_server.flows import Issuer, Registered, rows
from tests.authorization_server.prepared import _notes_as, _notes_prepared
from tests.authorization_server.test_consent_memory import approved

NEW_PASSWORD = "a new horse battery"
DISABLED = "This account is disabled. Ask the operator of this server to enable it."
WRONG = "Wrong username or password."
BEFORE, AFTER = ["notes:read", "notes:write"], ["notes:read", "notes:share"]
REMOVED = "removed MCP server notes; ended {grants} grant(s), deleted {clients} client(s) registered at its issuer\n"

__all__ = ["_notes_as", "_notes_prepared"]  # notes_as on a copy of a database prepared once (prepared.py)


def granted(notes: Issuer) -> tuple[Registered, str]:
    """A client alice approved at the ``notes`` issuer, and its refresh token."""
    client = notes.register(client_name="Notes CLI")
    response = notes.exchange(client, approved(notes, client, "notes:read"))
    assert response.status_code == 200, response.text
    return client, response.json()["refresh_token"]


def refused(result: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    return result.returncode, result.stderr


class TestUsers:
    def test_list_shows_one_line_per_user_with_source_state_and_creation(self, notes_as: AuthorizationServer):
        """Issue 17: `users list`: name, id, where it comes from (local), enabled or disabled, created."""
        notes_as.cli("users", "add", "bob", input="bob's long password\n")
        notes_as.cli("users", "disable", "bob")

        listed = notes_as.cli("users", "list").stdout.splitlines()

        ids = {row["username"]: row["id"] for row in rows(notes_as.db, "SELECT id, username FROM users")}
        assert len(listed) == 2
        assert re.fullmatch(
            rf"alice  {ids['alice']}  local  enabled  created \d{{4}}-\d\d-\d\d \d\d:\d\d UTC", listed[0]
        )
        assert re.fullmatch(
            rf"bob  {ids['bob']}  local  disabled \d{{4}}-\d\d-\d\d \d\d:\d\d  created \d{{4}}-\d\d-\d\d \d\d:\d\d UTC",
            listed[1],
        )

    def test_a_disabled_user_is_refused_at_sign_in_and_a_wrong_password_learns_nothing_more(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Issue 17: a disabled user cannot sign in; only the right password hears that the account is disabled."""
        disabled = notes_as.cli("users", "disable", ALICE)
        form = notes.sign_in_form()

        wrong = notes.sign_in(form, ALICE, "not the password")
        right = notes.sign_in(form, ALICE, ALICE_PASSWORD)
        notes_as.cli("users", "enable", ALICE)
        enabled = notes.sign_in(form, ALICE, ALICE_PASSWORD)

        assert disabled.stdout.startswith(f"disabled user {ALICE}")
        assert (wrong.status_code, WRONG in wrong.text, DISABLED in wrong.text) == (200, True, False)
        assert (right.status_code, DISABLED in right.text, "location" in right.headers) == (403, True, False)
        assert enabled.status_code == 303
        assert enabled.headers["location"].endswith("/consent")

    def test_disabling_ends_the_users_sessions(self, notes_as: AuthorizationServer, notes: Issuer):
        """Issue 17: `users disable` ends the browser sessions: the home page no longer knows the user."""
        notes.sign_in(notes.sign_in_form(), ALICE, ALICE_PASSWORD)
        assert len(rows(notes_as.db, "SELECT * FROM browser_sessions")) == 1
        assert ALICE in notes.http.get(notes_as.url + "/").text

        notes_as.cli("users", "disable", ALICE)

        assert rows(notes_as.db, "SELECT * FROM browser_sessions") == []
        assert ALICE not in notes.http.get(notes_as.url + "/").text

    def test_reset_password_replaces_it_and_ends_the_sessions(self, notes_as: AuthorizationServer, notes: Issuer):
        """Issue 17: `users reset-password` reads the new password as `users add` does; the old one fails."""
        notes.sign_in(notes.sign_in_form(), ALICE, ALICE_PASSWORD)

        reset = notes_as.cli("users", "reset-password", ALICE, input=NEW_PASSWORD + "\n")
        sessions_after_reset = rows(notes_as.db, "SELECT * FROM browser_sessions")
        with httpx2.Client(follow_redirects=False, timeout=10) as other_browser:
            notes = Issuer(other_browser, notes.url, notes.registration_endpoint, notes.resource)
            form = notes.sign_in_form()
            old = notes.sign_in(form, ALICE, ALICE_PASSWORD)
            new = notes.sign_in(form, ALICE, NEW_PASSWORD)

        assert reset.stdout == f"new password set for user {ALICE}; their sessions ended\n"
        assert sessions_after_reset == []
        assert (old.status_code, WRONG in old.text) == (200, True)
        assert new.status_code == 303

    def test_reset_password_refuses_a_short_one_and_an_unknown_user(self, notes_as: AuthorizationServer):
        """Accounts: a password has at least 8 characters; a name that is no user is said so."""
        short = notes_as.cli("users", "reset-password", ALICE, input="short\n", check=False)
        unknown = notes_as.cli("users", "reset-password", "nobody", input=NEW_PASSWORD + "\n", check=False)

        assert refused(short) == (1, "authorization_server: a password has at least 8 characters\n")
        assert refused(unknown) == (1, "authorization_server: no user named 'nobody'\n")

    def test_remove_ends_the_users_grants_sessions_and_consents(self, notes_as: AuthorizationServer, notes: Issuer):
        """Issue 17, RFC 7009 §2: removing a user ends the grants they gave: their refresh token is dead."""
        client, refresh_token = granted(notes)

        removed = notes_as.cli("users", "remove", ALICE)
        refreshed = notes.refresh(client, refresh_token)

        assert removed.stdout == f"removed user {ALICE}; ended 1 grant(s), their sessions and consents\n"
        assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")
        assert rows(notes_as.db, "SELECT * FROM users WHERE username = ?", ALICE) == []
        assert rows(notes_as.db, "SELECT * FROM consents") == []
        assert rows(notes_as.db, "SELECT * FROM browser_sessions") == []
        assert [row["status"] for row in rows(notes_as.db, "SELECT status FROM authorization_journeys")] == ["revoked"]

    def test_remove_refuses_an_unknown_user(self, notes_as: AuthorizationServer):
        assert refused(notes_as.cli("users", "remove", "nobody", check=False)) == (
            1,
            "authorization_server: no user named 'nobody'\n",
        )


def metadata(server: AuthorizationServer, mcp_server_id: str) -> httpx2.Response:
    return httpx2.get(f"{server.url}/.well-known/oauth-authorization-server/mcp/{mcp_server_id}", timeout=10)


def within_the_cache_bound(check: Callable[[], bool], bound: float = 3.0) -> bool:
    """Whether ``check()`` comes true within ``bound`` seconds: the MCP server cache looks at the database
    at most once a second (``McpServerCache.CHECK_INTERVAL``). Polled, no fixed sleep."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


class TestMcpServers:
    def test_update_changes_the_scopes_in_the_issuers_metadata_within_the_cache_bound(
        self, notes_as: AuthorizationServer
    ):
        """Issue 17, RFC 8414 §2 scopes_supported: `mcp-servers update --scopes` shows in the running server."""
        assert metadata(notes_as, NOTES_SERVER_ID).json()["scopes_supported"] == [
            "notes:read",
            "notes:write",
            "offline_access",
        ]

        updated = notes_as.cli("mcp-servers", "update", NOTES_SERVER_ID, "--scopes", "notes:read notes:share")

        assert updated.stdout.splitlines() == [
            "updated MCP server notes: http://localhost:8111/mcp",
            "    name 'Notes', scopes notes:read notes:share (default notes:read)",
        ]
        assert within_the_cache_bound(
            lambda: (
                metadata(notes_as, NOTES_SERVER_ID).json()["scopes_supported"]
                == ["notes:read", "notes:share", "offline_access"]
            )
        )

    def test_update_changes_name_resource_and_default_scopes(self, notes_as: AuthorizationServer):
        """Issue 17: each option changes its field alone; the rest stays."""
        notes_as.cli(
            "mcp-servers", "update", NOTES_SERVER_ID, "--name", "Notebook", "--resource", "http://localhost:8112/mcp",
            "--default-scopes", "notes:read notes:write",
        )  # fmt: skip

        [row] = rows(notes_as.db, "SELECT * FROM mcp_servers")
        assert (row["name"], row["resource"], row["scopes"], row["default_scopes"]) == (
            "Notebook",
            "http://localhost:8112/mcp",
            "notes:read notes:write",
            "notes:read notes:write",
        )

    def test_update_describes_a_scope_and_keeps_the_other_descriptions(self, notes_as: AuthorizationServer):
        """Issue 17 (consent with human descriptions): an operator describes scopes after adding the server;
        a description names one of its scopes, and one of a scope no longer offered goes with it."""
        notes_as.cli("mcp-servers", "update", NOTES_SERVER_ID, "--describe-scope", "notes:read=Read your notes")
        notes_as.cli("mcp-servers", "update", NOTES_SERVER_ID, "--describe-scope", "notes:write=Change your notes")
        refused = notes_as.cli("mcp-servers", "update", NOTES_SERVER_ID, "--describe-scope", "x:y=Z", check=False)
        [both] = rows(notes_as.db, "SELECT scope_descriptions FROM mcp_servers")
        notes_as.cli("mcp-servers", "update", NOTES_SERVER_ID, "--scopes", "notes:write")
        [after] = rows(notes_as.db, "SELECT scope_descriptions FROM mcp_servers")

        assert json.loads(both[0]) == {"notes:read": "Read your notes", "notes:write": "Change your notes"}
        assert refused.returncode == 1 and "cannot describe x:y" in refused.stderr
        assert json.loads(after[0]) == {"notes:write": "Change your notes"}

    @pytest.mark.parametrize(
        ("options", "error"),
        [
            ((), "nothing to change: give --name, --resource, --scopes, --default-scopes or --describe-scope"),
            (("--default-scopes", "notes:admin"), "default scopes must be among the server's scopes"),
            (("--resource", "HTTP://Localhost:8111/x"), "resource must be written in canonical form: 'http://localhost:8111/x'"),
            (("--scopes", ""), "an MCP server needs at least one scope"),
        ],
        ids=["nothing", "default not offered", "resource not canonical", "no scope"],
    )  # fmt: skip
    def test_update_refuses_what_add_refuses(self, notes_as: AuthorizationServer, options: tuple[str, ...], error: str):
        """Issue 17: an update is checked as `mcp-servers add` checks, and changes nothing when refused."""
        before = rows(notes_as.db, "SELECT * FROM mcp_servers")

        result = notes_as.cli("mcp-servers", "update", NOTES_SERVER_ID, *options, check=False)

        assert refused(result) == (1, f"authorization_server: {error}\n")
        assert [dict(row) for row in rows(notes_as.db, "SELECT * FROM mcp_servers")] == [dict(row) for row in before]

    def test_update_refuses_another_servers_resource_and_an_unknown_id(self, notes_as: AuthorizationServer):
        notes_as.cli("mcp-servers", "add", "--id", "files", "--resource", "http://localhost:8113/mcp", "--scopes", "f")

        clash = notes_as.cli("mcp-servers", "update", "files", "--resource", "http://localhost:8111/mcp", check=False)
        unknown = notes_as.cli("mcp-servers", "update", "nope", "--name", "x", check=False)

        assert refused(clash) == (
            1,
            "authorization_server: MCP server 'notes' already has the resource http://localhost:8111/mcp\n",
        )
        assert refused(unknown) == (1, "authorization_server: no MCP server with id 'nope'\n")

    def test_an_unused_server_is_removed_and_its_metadata_answers_404(self, notes_as: AuthorizationServer):
        """Issue 17, RFC 8414 §3: a removed MCP server's issuer is gone, its metadata 404."""
        assert metadata(notes_as, NOTES_SERVER_ID).status_code == 200

        removed = notes_as.cli("mcp-servers", "remove", NOTES_SERVER_ID)

        assert removed.stdout == REMOVED.format(grants=0, clients=0)
        assert within_the_cache_bound(lambda: metadata(notes_as, NOTES_SERVER_ID).status_code == 404)

    def test_removing_a_server_clients_depend_on_is_refused_without_force(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Issue 17: while clients or journeys depend on the server, `remove` says what and changes nothing."""
        client, refresh_token = granted(notes)

        result = notes_as.cli("mcp-servers", "remove", NOTES_SERVER_ID, check=False)

        assert refused(result) == (
            1,
            "authorization_server: MCP server 'notes' has 1 client(s) registered at its issuer and 1 journey(s);"
            " `mcp-servers remove notes --force` ends their grants, deletes those clients and the server\n",
        )
        assert notes.refresh(client, refresh_token).status_code == 200
        assert metadata(notes_as, NOTES_SERVER_ID).status_code == 200

    def test_forced_removal_ends_the_grants_and_deletes_the_clients_of_its_issuer(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Issue 17, RFC 7009 §2 / RFC 7592 §2.3: `--force` ends every grant for it and deletes its clients."""
        client, refresh_token = granted(notes)

        removed = notes_as.cli("mcp-servers", "remove", NOTES_SERVER_ID, "--force")

        assert removed.stdout == REMOVED.format(grants=1, clients=1)
        assert within_the_cache_bound(lambda: metadata(notes_as, NOTES_SERVER_ID).status_code == 404)
        refreshed = httpx2.post(
            f"{notes_as.url}/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client.client_id},
            timeout=10,
        )
        assert refreshed.json()["error"] in ("invalid_client", "invalid_grant")
        assert rows(notes_as.db, "SELECT * FROM clients") == []
        assert rows(notes_as.db, "SELECT * FROM refresh_tokens WHERE revoked_at IS NULL") == []

    def test_remove_refuses_an_unknown_id(self, notes_as: AuthorizationServer):
        assert refused(notes_as.cli("mcp-servers", "remove", "nope", check=False)) == (
            1,
            "authorization_server: no MCP server with id 'nope'\n",
        )


class TestClients:
    def test_delete_ends_the_grants_and_the_client_as_rfc_7592_delete_does(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Issue 17, RFC 7592 §2.3: `clients delete` revokes the grants, then the client is gone (invalid_client)."""
        client, refresh_token = granted(notes)

        deleted = notes_as.cli("clients", "delete", client.client_id)
        refreshed = notes.refresh(client, refresh_token)

        assert deleted.stdout == f"deleted client {client.client_id}; ended 1 grant(s)\n"
        assert (refreshed.status_code, refreshed.json()["error"]) == (401, "invalid_client")
        assert rows(notes_as.db, "SELECT * FROM clients") == []
        assert rows(notes_as.db, "SELECT * FROM consents") == []

    def test_delete_refuses_an_unknown_client(self, notes_as: AuthorizationServer):
        assert refused(notes_as.cli("clients", "delete", "nope", check=False)) == (
            1,
            "authorization_server: no client with id 'nope'\n",
        )


class TestStartWarnings:
    def test_a_server_without_mcp_server_or_user_says_the_commands_to_run(self, fresh_as: AuthorizationServer):
        """Issue 17: outside demo mode, the start-up log names what is missing and the command that adds it."""
        log = Path(fresh_as.program.log_path).read_text()

        assert "no MCP server yet: python -m authorization_server mcp-servers add --id ID" in log
        assert "no user yet: python -m authorization_server users add NAME" in log

    @pytest.mark.as_options("--no-local-accounts")
    def test_without_the_password_form_or_a_provider_it_names_identity_providers_add(
        self, fresh_as: AuthorizationServer
    ):
        """Issue 17 audit (the start-up warnings, since issue 16's sign-in through identity providers): with
        ``--no-local-accounts`` and no provider nobody can sign in, and ``users add`` would not help: the warning
        names ``identity-providers add`` instead."""
        log = Path(fresh_as.program.log_path).read_text()

        assert "nobody can sign in: python -m authorization_server identity-providers add --name NAME" in log
        assert "users add" not in log

    def test_the_demo_server_does_not_warn(self, demo_as: AuthorizationServer):
        log = Path(demo_as.program.log_path).read_text()

        assert "no user yet" not in log
        assert "no MCP server yet" not in log
