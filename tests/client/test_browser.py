"""The authorization through a person's browser: sign-in and consent in headless Chromium.

The authorization server runs without demo mode. The client runs with ``--no-browser``: it prints
the authorization URL and waits on its loopback listener; Playwright opens the URL, signs in as
alice and answers the consent page, and the browser is sent back to the client's listener.
"""

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page

from scripts.stack import ROOT, AuthorizationServer, McpServer, free_port
from tests.client.conftest import ALICE, ALICE_PASSWORD
from tests.client.running import RUN_TIMEOUT, Run, client_command, run_client

pytestmark = pytest.mark.browser

URL_PROMPT = "open this authorization URL in your browser: "


def authorize_in_browser(page: Page, server_url: str, store: Path, decision: str) -> tuple[Run, str]:
    """Run the client with --no-browser, answer in the browser; the run and the page it ended on."""
    process = subprocess.Popen(
        client_command(server_url, store, "--no-browser", "--callback-port", str(free_port())),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        printed.append(line)
        if URL_PROMPT in line:
            break
    try:
        page.goto(line.split(URL_PROMPT, 1)[1].strip())
        page.fill("input[name=username]", ALICE)
        page.fill("input[name=password]", ALICE_PASSWORD)
        page.click("button[type=submit]")
        page.click(f"button[value={decision}]")
        page.wait_for_url("http://127.0.0.1:*/callback?*")
        ended_on = page.inner_text("body")
    finally:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
    return Run(process.returncode, "".join(printed) + stdout, stderr), ended_on


class TestBrowser:
    """OAuth 2.1 §4.1 with a person: sign-in, consent, and the redirect back to the loopback listener."""

    def test_an_approved_authorization_completes_the_run(
        self, page: Page, login_stack: tuple[AuthorizationServer, McpServer], tmp_path: Path
    ) -> None:
        """After Allow, the listener takes the response and the run goes through step 7."""
        _, mcp_server = login_stack
        run, ended_on = authorize_in_browser(page, mcp_server.url, tmp_path / "store.json", "allow")
        assert run.exit_code == 0, run.describe()
        assert run.steps == ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]
        assert "The client received the authorization response." in ended_on

    def test_a_denied_authorization_exits_with_access_denied(
        self, page: Page, login_stack: tuple[AuthorizationServer, McpServer], tmp_path: Path
    ) -> None:
        """After Deny, the run stops with access_denied and the server's description (exit 6)."""
        _, mcp_server = login_stack
        run, _ = authorize_in_browser(page, mcp_server.url, tmp_path / "store.json", "deny")
        assert (run.exit_code, run.stderr) == (6, "error: access_denied: the user denied the request\n")


class TestHeadlessAgainstASignInPage:
    """--headless follows redirects only as far as a page that needs a person."""

    def test_it_stops_at_the_sign_in_page(
        self, login_stack: tuple[AuthorizationServer, McpServer], tmp_path: Path
    ) -> None:
        """Exit 6, naming the page and the way out."""
        authorization_server, mcp_server = login_stack
        run = run_client(mcp_server.url, tmp_path / "store.json", "--headless")
        assert run.exit_code == 6, run.describe()
        assert run.stderr.startswith(
            f"error: the authorization server shows a sign-in or consent page ({authorization_server.url}/interaction/"
        )
        assert run.stderr.endswith(
            "/login) that needs a person: --headless only works against a server that approves by itself "
            "(python -m authorization_server --demo); run without --headless to sign in with your browser\n"
        )
