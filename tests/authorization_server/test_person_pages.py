"""The person's pages of issue 17 ("The person's pages"), in real headless Chromium.

The consent page shows the MCP server's words for each scope (the scope itself as detail), tells
a step-up's new scopes from those approved before, names the authorization server, and says where
the answer goes in the same words as the connected apps page. Connected apps: Revoke is a
secondary, destructive action that asks first (a page, no script) and says "revoked" after;
"last used" is the tokens' last use. Every page meets WCAG AA contrast in light and dark mode and
is readable 390 px wide.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Browser, Page

from scripts.stack import AuthorizationServer, free_port
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import Code, Issuer, Pkce, Registered, execute, rows
from tests.authorization_server.prepared import prepare, start_copy, started_copy
from tests.authorization_server.test_login_consent_pages import answer, query_of, sign_in

pytestmark = pytest.mark.browser

SERVER_ID = "diary"
RESOURCE = "http://localhost:8113/mcp"
READ_TEXT = "Read your diary entries"
WRITE_TEXT = "Write diary entries in your name"
#: ``SAVE_SCREENSHOTS=1`` makes the 390 px test save the consent and apps pages for the README.
#: A phone's screen (issue 17: every page readable 390 px wide).
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SAVE_SCREENSHOTS = os.environ.get("SAVE_SCREENSHOTS") == "1"


#: The command line runs that describe the MCP server's scopes (``--describe-scope``) and add alice.
DIARY_RUNS: list[tuple[list[str], str | None]] = [
    (
        ["mcp-servers", "add", "--id", SERVER_ID, "--resource", RESOURCE, "--scopes", "diary:read diary:write",
         "--name", "Diary", "--describe-scope", f"diary:read={READ_TEXT}",
         "--describe-scope", f"diary:write={WRITE_TEXT}"],
        None,
    ),
    (["users", "add", ALICE], ALICE_PASSWORD + "\n"),
]  # fmt: skip


@pytest.fixture(name="diary_prepared", scope="module")
def _diary_prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare(tmp_path_factory.mktemp("diary_prepared"), DIARY_RUNS)


@pytest.fixture(name="diary_as")
def _diary_as(diary_prepared: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AuthorizationServer]:
    """A server with an MCP server whose scopes the operator described, and alice: this test's own, on a copy
    of a database those runs made once (tests/authorization_server/prepared.py)."""
    yield from started_copy(diary_prepared, tmp_path, request)


def registration_of(server: AuthorizationServer) -> str:
    """The diary server's registration endpoint (RFC 7591 §3), MCP-scoped."""
    return f"{server.url}/api/v1/authz/clients/register/mcp/{SERVER_ID}/latest"


@pytest.fixture(name="diary")
def _diary(diary_as: AuthorizationServer, http: httpx2.Client) -> Issuer:
    return Issuer(
        http,
        diary_as.issuer_for(SERVER_ID),
        registration_of(diary_as),
        resource=RESOURCE,
    )


@pytest.fixture(name="client")
def _client(diary: Issuer) -> Registered:
    return diary.register(client_name="Diary CLI", redirect_uris=["http://127.0.0.1/callback"])


def open_request(page: Page, diary: Issuer, client: Registered, scope: str) -> tuple[Pkce, str]:
    """Open the client's authorization request in the browser; its PKCE pair and redirect URI."""
    pkce = Pkce.new()
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    query = diary.authorization_query(client, pkce, redirect_uri=redirect_uri, scope=scope)
    page.goto(str(httpx2.URL(diary.authorization_endpoint, params=query)))
    return pkce, redirect_uri


def approve(page: Page, diary: Issuer, client: Registered, scope: str, *, signed_in: bool = False) -> Code:
    pkce, redirect_uri = open_request(page, diary, client, scope)
    if not signed_in:
        sign_in(page)
    return Code(query_of(answer(page, "Allow"))["code"], pkce, redirect_uri)


class TestConsentPage:
    def test_scopes_show_the_servers_descriptions_with_the_raw_scope_as_detail(
        self, page: Page, diary: Issuer, client: Registered
    ):
        """Issue 17 (consent: scopes with the MCP server's human descriptions, raw identifiers as detail),
        set with `mcp-servers add --describe-scope`."""
        open_request(page, diary, client, "diary:read diary:write")
        sign_in(page)

        assert page.locator(".scopes .scope-description").all_inner_texts() == [READ_TEXT, WRITE_TEXT]
        assert page.locator(".scopes code").all_inner_texts() == ["diary:read", "diary:write"]

    def test_a_step_up_tells_the_new_scopes_from_those_approved_before(
        self, page: Page, diary: Issuer, client: Registered
    ):
        """Issue 17 (which scopes are new in a step-up), MCP authorization §Scope challenge handling: after
        diary:read was approved, asking for diary:write too lists diary:write as new, diary:read as kept."""
        approve(page, diary, client, "diary:read")
        consent = page.context.new_page()  # the first tab is still failing to reach the callback

        open_request(consent, diary, client, "diary:read diary:write")

        assert consent.url.endswith("/consent"), consent.url
        assert consent.locator(".new-scopes code").all_inner_texts() == ["diary:write"]
        assert consent.locator(".approved-scopes code").all_inner_texts() == ["diary:read"]
        assert "New access it asks for" in consent.inner_text("dl")

    def test_the_page_names_this_authorization_server_and_where_answers_go(
        self, page: Page, diary: Issuer, client: Registered
    ):
        """Issue 17 (which authorization server this is; one wording for where the answer goes): the
        issuer of the request (RFC 9207 ``iss``), and "Answers go to" as on the connected apps page."""
        open_request(page, diary, client, "diary:read")
        sign_in(page)

        assert page.inner_text(".issuer code") == diary.url
        assert "Answers go to\n" in page.inner_text("dl")

    def test_describing_a_scope_the_server_lacks_is_refused_in_one_line(self, diary_as: AuthorizationServer):
        """Issue 17: `--describe-scope` names one of the server's scopes, else the command says so, writes nothing."""
        refused = diary_as.cli(
            "mcp-servers", "add", "--id", "other", "--resource", "http://localhost:8114/mcp", "--scopes", "a",
            "--describe-scope", "b=Something", check=False,
        )  # fmt: skip

        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            "authorization_server: cannot describe b: not among the server's scopes (a)"
        ]
        assert "other" not in diary_as.cli("mcp-servers", "list").stdout
        assert f"diary:read: {READ_TEXT}" in diary_as.cli("mcp-servers", "list").stdout


class TestConnectedApps:
    def test_revoke_is_a_secondary_action_that_asks_first_and_says_revoked(
        self, page: Page, diary: Issuer, client: Registered, diary_as: AuthorizationServer
    ):
        """Issue 17 (Revoke styled as a secondary, destructive action with a confirmation and a "revoked"
        message), MCP-SBP Confused Deputy: the list's Revoke is not styled as the primary button; it leads
        to a page that asks; only that page's POST revokes, and the list then says so."""
        code = approve(page, diary, client, "diary:read")
        refresh_token = diary.exchange(client, code).json()["refresh_token"]
        apps = page.context.new_page()
        apps.goto(diary_as.url + "/account/apps")
        revoke = apps.locator('button:has-text("Revoke")')

        assert revoke.evaluate("b => getComputedStyle(b).backgroundColor") == "rgba(0, 0, 0, 0)"
        with apps.expect_navigation():
            revoke.click()

        assert apps.inner_text("h1") == "Revoke Diary CLI?"
        assert len(rows(diary_as.db, "SELECT * FROM consents")) == 1  # asking changed nothing
        with apps.expect_navigation():
            apps.click('button:has-text("Revoke access")')

        assert apps.inner_text('[role="status"]').startswith("Revoked.")
        assert apps.inner_text(".none") == "You have not approved any application."
        refreshed = diary.refresh(client, refresh_token)
        assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")

    def test_cancel_on_the_confirmation_keeps_the_app(
        self, page: Page, diary: Issuer, client: Registered, diary_as: AuthorizationServer
    ):
        """Issue 17: the confirmation's other way out keeps the approval."""
        approve(page, diary, client, "diary:read")
        apps = page.context.new_page()
        apps.goto(diary_as.url + "/account/apps")
        with apps.expect_navigation():
            apps.click('button:has-text("Revoke")')

        with apps.expect_navigation():
            apps.click("text=Cancel, keep it")

        assert apps.inner_text("h2") == "Diary CLI"
        assert apps.locator('[role="status"]').count() == 0
        assert len(rows(diary_as.db, "SELECT * FROM consents")) == 1

    def test_last_used_is_when_tokens_were_last_issued(
        self, page: Page, diary: Issuer, client: Registered, diary_as: AuthorizationServer
    ):
        """Issue 17 ("last used" that means the tokens' last use): approving is not using; redeeming the
        code (OAuth 2.1 §4.1.3) and refreshing (§4.3) are, each written to the consent."""
        code = approve(page, diary, client, "diary:read")
        apps = page.context.new_page()
        apps.goto(diary_as.url + "/account/apps")
        assert apps.inner_text(".last-used-at") == "not since approved"

        refresh_token = diary.exchange(client, code).json()["refresh_token"]
        apps.reload()
        assert apps.inner_text(".last-used-at").endswith(" UTC")
        execute(diary_as.db, "UPDATE consents SET last_used_at = NULL")

        assert diary.refresh(client, refresh_token).status_code == 200
        apps.reload()
        assert apps.inner_text(".last-used-at").endswith(" UTC")

    def test_the_confirmation_of_an_approval_the_user_lacks_is_an_error_page(
        self, page: Page, diary: Issuer, client: Registered, diary_as: AuthorizationServer
    ):
        """Issue 17, OAuth errors as pages: asking to revoke what is not there is a 400 page, never a 500."""
        approve(page, diary, client, "diary:read")
        apps = page.context.new_page()

        response = apps.goto(f"{diary_as.url}/account/apps/revoke?client_id=nobody&mcp_server_id={SERVER_ID}")

        assert response is not None and response.status == 400
        assert "no such connected app" in apps.inner_text('[role="alert"]')


# The contrast and the width, measured by Chromium on every page the person sees.

CONTRAST_SCRIPT = """() => {
  const channel = c => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const rgba = s => s.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return rgba(getComputedStyle(document.documentElement).backgroundColor);
  };
  const found = [];
  for (const el of document.querySelectorAll("main *")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const [fg, bg] = [luminance(rgba(getComputedStyle(el).color)), luminance(background(el))];
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    found.push({text: el.textContent.trim().slice(0, 40), cls: el.className, ratio: Math.round(ratio * 100) / 100});
  }
  return found;
}"""


#: The pages a person reaches after approving, besides the sign-in and consent pages.
AFTER_APPROVING = (
    ("home", "/"),
    ("apps", "/account/apps?revoked=1"),
    ("revoke", "/account/apps/revoke?client_id={client_id}&mcp_server_id=" + SERVER_ID),
    ("error", "/account/apps/revoke?client_id=nobody&mcp_server_id=x"),
)


@dataclass
class Walk:
    """What Chromium measured on every page the person sees, page by page: each text's contrast, the width."""

    contrast: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    width: dict[str, int] = field(default_factory=dict)

    def measure(self, name: str, tab: Page) -> None:
        self.contrast[name] = tab.evaluate(CONTRAST_SCRIPT)
        self.width[name] = tab.evaluate("() => document.documentElement.scrollWidth")


def walk(browser: Browser, server: AuthorizationServer, diary: Issuer, client: Registered, **options: Any) -> Walk:
    """One person's way through the pages in a browser profile of ``options``: the sign-in page, its error, the
    consent page, then the home, apps, revoke and error pages."""
    walked = Walk()
    context = browser.new_context(**options)
    page = context.new_page()
    open_request(page, diary, client, "diary:read diary:write")
    walked.measure("sign-in", page)
    page.fill('input[name="username"]', ALICE)
    page.fill('input[name="password"]', "not the password")
    page.click('button:has-text("Sign in")')
    walked.measure("sign-in error", page)
    sign_in(page)
    walked.measure("consent", page)
    if SAVE_SCREENSHOTS and options.get("viewport"):
        page.screenshot(path=str(SCREENSHOTS / "consent.png"), full_page=True)
    answer(page, "Allow")
    other = context.new_page()
    for name, url in AFTER_APPROVING:
        other.goto(server.url + url.format(client_id=client.client_id))
        walked.measure(name, other)
        if name == "apps" and SAVE_SCREENSHOTS and options.get("viewport"):
            other.goto(server.url + "/account/apps")
            other.screenshot(path=str(SCREENSHOTS / "connected-apps.png"), full_page=True)
    context.close()
    return walked


#: How each walk's browser profile is made: light mode on a phone (390 px wide), dark on a desktop screen.
PROFILES: dict[str, dict[str, Any]] = {
    "light": {"color_scheme": "light", "viewport": PHONE, "device_scale_factor": 1},
    "dark": {"color_scheme": "dark"},
}


@pytest.fixture(name="walks", scope="module")
def _walks(
    browser: Browser, diary_prepared: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Walk]]:
    """The walk of a profile of ``PROFILES``, made once for the tests below, when the first asks for it
    (docs/testing.md); a server of their own, a client each."""
    server = start_copy(diary_prepared, tmp_path_factory.mktemp("walks"), request)
    made: dict[str, Walk] = {}
    with httpx2.Client(follow_redirects=False, timeout=10) as http:
        diary = Issuer(http, server.issuer_for(SERVER_ID), registration_of(server), resource=RESOURCE)

        def walked(profile: str) -> Walk:
            if profile not in made:
                client = diary.register(client_name="Diary CLI", redirect_uris=["http://127.0.0.1/callback"])
                made[profile] = walk(browser, server, diary, client, **PROFILES[profile])
            return made[profile]

        yield walked
    server.program.stop()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_meets_wcag_aa_contrast(walks: Callable[[str], Walk], scheme: str):
    """Issue 17, WCAG 2.2 SC 1.4.3 (AA): every text on the person's pages, the grey notes (3.95:1 before),
    the errors (2.9:1 in dark mode before), the buttons, has 4.5:1 or more against what is behind it."""
    measured = walks(scheme).contrast

    classes = {item["cls"] for texts in measured.values() for item in texts}
    assert {"muted", "error", "notice revoked", "warning", "danger", "secondary danger"} <= classes
    low = {name: [item for item in texts if item["ratio"] < 4.5] for name, texts in measured.items()}
    assert low == {name: [] for name in measured}


def test_every_page_is_readable_390_px_wide(walks: Callable[[str], Walk]):
    """Issue 17 (pages readable at 390 px wide; WCAG 2.2 SC 1.4.10 Reflow): no page scrolls sideways,
    its long client ids and URLs included."""
    widths = walks("light").width

    assert set(widths) == {"sign-in", "sign-in error", "consent", "home", "apps", "revoke", "error"}
    assert {name: width for name, width in widths.items() if width > PHONE["width"]} == {}
