"""``python -m scripts.screenshots``: the pictures of docs/console.md and the README, taken in Chromium.

Run by hand, never by the tests. Starts, with a fresh state in a temporary folder, an authorization
server (not in demo mode, so that a person signs in and a consent page is shown; the console on,
as ``admin``) with one described MCP server and user ``alice``, and the reference MCP server. Then
drives Chromium as alice (an application asks, she signs in and allows it, the application gets
its tokens) and as the operator, and saves into ``docs/screenshots/``: the home page, the consent
page, the console's journeys, clients, users, alice's page, MCP servers, workload issuers and one journey's page,
at desktop width,
and the home page and the journeys at 390 px wide. Everything stops at the end, also on failure.
"""

import base64
import hashlib
import re
import secrets
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx2
from playwright.sync_api import Browser, Page, Route, ViewportSize, sync_playwright

from scripts.stack import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    AuthorizationServer,
    free_port,
    start_authorization_server,
    start_mcp_server,
)

OUT = ROOT / "docs" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 390, "height": 844}
ADMIN = ("admin", "a console passphrase for the pictures")
ALICE = ("alice", "correct horse battery")
SERVER_ID = "notes"
SCOPES = {"notes:read": "Read your notes", "notes:write": "Add and change your notes"}
#: Any loopback callback: the browser's request to it is answered by the script, not by a listener.
CALLBACK = re.compile(r"http://127\.0\.0\.1:\d+/callback.*")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="screenshots-") as folder:
        workdir = Path(folder)
        mcp_port = _port(8000)
        server = start_authorization_server(
            workdir, "--admin-username", ADMIN[0], "--admin-password", ADMIN[1], demo=False, port=_port(9000)
        )
        mcp = None
        try:
            _populate(server, mcp_port)
            mcp = start_mcp_server(workdir, mcp_port, server.issuer_for(SERVER_ID))
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    _person(browser, server, f"http://localhost:{mcp_port}/mcp")
                    _operator(browser, server)
                finally:
                    browser.close()
        finally:
            if mcp is not None:
                mcp.program.stop()
            server.program.stop()
    for picture in sorted(OUT.glob("*.png")):
        print(f"{picture.relative_to(ROOT)}  {picture.stat().st_size // 1024} KB")
    return 0


def _port(usual: int) -> int:
    """The README's port when it is free, so that the pictures show the addresses the walkthrough uses."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", usual))
        except OSError:
            return free_port()
    return usual


def _populate(server: AuthorizationServer, mcp_port: int) -> None:
    """What an operator sets up with the command line: an MCP server with described scopes, a user, a machine."""
    described = [option for scope, text in SCOPES.items() for option in ("--describe-scope", f"{scope}={text}")]
    server.cli(
        "mcp-servers", "add", "--id", SERVER_ID, "--name", "Notes", "--resource", f"http://localhost:{mcp_port}/mcp",
        "--scopes", " ".join(SCOPES), "--default-scopes", "notes:read", *described,
    )  # fmt: skip
    server.cli("users", "add", ALICE[0], input=ALICE[1] + "\n")
    server.cli("users", "add", "bob", input="another long password\n")
    server.cli("users", "disable", "bob")
    server.cli(
        "clients", "add", "--name", "Nightly report job", "--grant", "client_credentials",
        "--mcp-server", SERVER_ID, "--issuer", server.url,
    )  # fmt: skip
    server.cli(
        "workload-issuers", "add", "--name", "github", "--issuer", "https://token.actions.githubusercontent.com",
        "--audience", "mcp-authorization", "--rule", f"repository=acme/deploy,ref=refs/heads/main -> {SERVER_ID}",
        "--rule", f"repository_owner=acme -> {SERVER_ID} scopes=notes:read",
    )  # fmt: skip


def _person(browser: Browser, server: AuthorizationServer, resource: str) -> None:
    """Alice: an application asks for her notes; she signs in, reads the consent page, allows; then her home page."""
    http = httpx2.Client()
    metadata = http.get(f"{server.url}/.well-known/oauth-authorization-server/mcp/{SERVER_ID}").json()
    _register(http, metadata, "Unused registration")  # a journey that stops at registration
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client_id = _register(http, metadata, "Notes CLI", redirect_uri)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "notes:read notes:write",
        "state": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
    }
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    answered: list[str] = []

    def callback(route: Route) -> None:
        answered.append(route.request.url)
        route.fulfill(body="The application has its answer; you may close this tab.", content_type="text/plain")

    page.route(CALLBACK, callback)
    page.goto(f"{metadata['authorization_endpoint']}?{urlencode(query)}")
    page.fill("input[name=username]", ALICE[0])
    page.fill("input[name=password]", ALICE[1])
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("button:has-text('Allow')")
    _save(page, "consent-desktop")
    page.click("button:has-text('Allow')")
    page.wait_for_url(CALLBACK)
    code = dict(parse_qsl(urlsplit(answered[0]).query))["code"]
    tokens = http.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": query["resource"],
        },
    )
    tokens.raise_for_status()
    page.goto(f"{server.url}/")
    _save(page, "home-desktop")
    page.set_viewport_size(NARROW)
    _save(page, "home-390")
    context.close()


def _register(http: httpx2.Client, metadata: dict[str, str], name: str, redirect_uri: str | None = None) -> str:
    """RFC 7591 §3: a public client registers at the MCP server's issuer; its client_id."""
    body = {
        "client_name": name,
        "redirect_uris": [redirect_uri or f"http://127.0.0.1:{free_port()}/callback"],
        "token_endpoint_auth_method": "none",
    }
    response = http.post(metadata["registration_endpoint"], json=body)
    response.raise_for_status()
    return str(response.json()["client_id"])


def _operator(browser: Browser, server: AuthorizationServer) -> None:
    """The operator signs in to the console and looks at each of its lists, and at alice's journey."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{server.url}/admin/sign-in")
    page.fill("input[name=username]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/admin/clients")
    for section in ("clients", "users", "mcp-servers", "workload-issuers", "journeys"):
        page.goto(f"{server.url}/admin/{section}")
        _save(page, f"console-{section}")
    page.goto(f"{server.url}/admin/users/view?username={ALICE[0]}")
    _save(page, "console-user")
    page.goto(f"{server.url}/admin/journeys")
    page.click("table.journeys tbody tr:has-text('tokens issued') td:first-child a")
    _save(page, "console-journey")
    page.goto(f"{server.url}/admin/journeys")
    page.set_viewport_size(NARROW)
    _save(page, "console-journeys-390")
    context.close()


def _save(page: Page, name: str) -> None:
    """The visible part of the page (a full page of a long list would be far over the docs' 150 KB)."""
    page.screenshot(path=OUT / f"{name}.png")


if __name__ == "__main__":
    sys.exit(main())
