"""Issue 17, "Ops surface" and "The person's pages": the health probes, the home page, signing out, and
the issuer's URL printed at start.

The probes are plain HTTP; signing out is driven in real headless Chromium, from a session made the
way a person makes one: an application asks, the person signs in and approves.
"""

import sqlite3
import time
from contextlib import closing
from urllib.parse import urlsplit

import httpx2
import pytest
from playwright.sync_api import Page

from scripts.stack import AuthorizationServer
from tests.authorization_server.conftest import ALICE
from tests.authorization_server.flows import Issuer, execute, rows
from tests.authorization_server.prepared import _notes_as, _notes_prepared
from tests.authorization_server.test_login_consent_pages import PAGE_HEADERS, answer, authorization, sign_in

ALIVE, READY = "/health/alive", "/health/ready"
SIGN_OUT = "/account/sign-out"
#: A phone's width (issue 17: every page readable at 390 px).
PHONE = {"width": 390, "height": 844}

__all__ = ["_notes_as", "_notes_prepared"]  # notes_as on a copy of a database prepared once (prepared.py)


class TestHealthProbes:
    def test_alive_answers_ok_as_uncached_json_without_cors(self, fresh_as: AuthorizationServer, http: httpx2.Client):
        """Issue 17 (Ops surface): /health/alive is 200 {"status": "ok"} whenever the process answers."""
        response = http.get(fresh_as.url + ALIVE, headers={"Origin": "https://elsewhere.example"})

        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-store"
        assert "access-control-allow-origin" not in response.headers

    def test_ready_answers_ok_when_the_database_runs_a_unit_and_the_keys_load(
        self, fresh_as: AuthorizationServer, http: httpx2.Client
    ):
        """Issue 17 (Ops surface): /health/ready is 200 when the database answers and the signing keys are loaded."""
        response = http.get(fresh_as.url + READY)

        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        assert response.headers["cache-control"] == "no-store"

    @pytest.mark.sqlite_only("holds SQLite's write lock; PostgreSQL's outage is in test_postgresql.py")
    def test_ready_is_503_naming_the_database_while_another_process_holds_its_write_lock(
        self, fresh_as: AuthorizationServer, http: httpx2.Client
    ):
        """Issue 17 (Ops surface): a database that cannot run a unit of work makes /health/ready 503 with
        what is wrong, within its short timeout (a probe never hangs); it is ready again once freed."""
        with closing(sqlite3.connect(fresh_as.db, timeout=5, isolation_level=None)) as holder:
            holder.execute("BEGIN EXCLUSIVE")  # as a stuck command line or backup would
            started = time.monotonic()
            locked = http.get(fresh_as.url + READY)
            waited = time.monotonic() - started
            holder.execute("ROLLBACK")

        assert locked.status_code == 503
        assert locked.json() == {"status": "unavailable", "database": "no answer within 0.9 s"}
        assert locked.headers["retry-after"] == "5"
        assert waited < 3
        freed = http.get(fresh_as.url + READY)
        assert (freed.status_code, freed.json()) == (200, {"status": "ok"})
        fresh_as.program.stop()  # the access log is complete once the server stopped
        assert "GET /health/ready 503" in fresh_as.program.log()

    def test_ready_is_503_naming_the_keys_when_no_signing_key_can_be_loaded(
        self, fresh_as: AuthorizationServer, http: httpx2.Client
    ):
        """Issue 17 (Ops surface): a server that cannot sign tokens is not ready; the answer says it is the keys."""
        execute(fresh_as.db, "DELETE FROM signing_keys")

        response = http.get(fresh_as.url + READY)
        # In-process, nothing loaded the keys before: the first answer tells. As its own process
        # (--real-processes), its start-up check read /jwks.json, and the keys are re-read at most
        # once a second (tokens/keys.py).
        deadline = time.monotonic() + 3
        while response.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            response = http.get(fresh_as.url + READY)

        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "keys": "the signing keys cannot be loaded"}

    def test_successful_probes_stay_out_of_the_access_log_at_info_level(
        self, fresh_as: AuthorizationServer, http: httpx2.Client
    ):
        """Issue 17 (Ops surface): probes every few seconds would flood the access log; other routes keep their line."""
        for _ in range(3):
            assert http.get(fresh_as.url + ALIVE).status_code == 200
            assert http.get(fresh_as.url + READY).status_code == 200
        assert http.get(fresh_as.url + "/jwks.json").status_code == 200

        fresh_as.program.stop()

        log = fresh_as.program.log()
        assert "GET /jwks.json 200" in log
        assert "/health/" not in log

    def test_the_probes_are_not_rate_limited(self, fresh_as: AuthorizationServer, http: httpx2.Client):
        """Issue 17 (Ops surface): a busy prober is never refused with 429 (docs/decisions/0011 limits other routes)."""
        statuses = {http.get(fresh_as.url + path).status_code for path in (ALIVE, READY) * 25}

        assert statuses == {200}


class TestStartLine:
    def test_the_server_logs_its_issuer_and_the_url_to_open_at_start(self, fresh_as: AuthorizationServer):
        """Issue 17 (The person's pages): uvicorn prints 127.0.0.1, whose cookies are not localhost's; the server
        names its issuer and the home page's URL."""
        line = f"authorization server: issuer {fresh_as.url} (open {fresh_as.url}/ in a browser)"

        assert line in fresh_as.program.log()


class TestHomePage:
    def test_the_home_page_says_what_the_server_is_and_links_every_issuers_metadata(
        self, notes_as: AuthorizationServer, http: httpx2.Client
    ):
        """Issue 17 (The person's pages): / is an HTML page, no longer a JSON 404: what this server is, its issuers
        and their metadata (RFC 8414 §3, §3.1 path-inserted for the MCP server's issuer), the connected apps."""
        response = http.get(notes_as.url + "/")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert {name: response.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "<title>Home · MCP authorization server</title>" in response.text
        assert 'href="/account/apps"' in response.text
        assert "You are not signed in." in response.text
        assert SIGN_OUT not in response.text  # nothing to sign out of
        root_metadata = notes_as.url + "/.well-known/oauth-authorization-server"
        notes_metadata = notes_as.url + "/.well-known/oauth-authorization-server/mcp/notes"
        for issuer, metadata in ((notes_as.url, root_metadata), (notes_as.issuer_for("notes"), notes_metadata)):
            assert f'<code class="issuer">{issuer}</code>' in response.text
            assert f'href="{metadata}"' in response.text
            assert http.get(metadata).json()["issuer"] == issuer


@pytest.mark.browser
class TestSignOutInChromium:
    def signed_in(self, page: Page, notes: Issuer) -> None:
        """Sign in as a person does: an application asks, the person signs in and approves."""
        client = notes.register(client_name="Notes CLI", redirect_uris=["http://127.0.0.1/callback"])
        page.goto(authorization(notes, client).url)
        sign_in(page)
        answer(page, "Allow")

    def test_sign_out_from_the_apps_page_ends_the_session(
        self, page: Page, notes: Issuer, notes_as: AuthorizationServer
    ):
        """Issue 17 (The person's pages): the connected apps page's Sign out ends the browser session (its row and
        its cookie); the apps page then says not signed in, and the next authorization asks to sign in again."""
        self.signed_in(page, notes)
        apps = page.context.new_page()  # the first tab is still failing to reach the callback
        apps.goto(notes_as.url + "/account/apps")
        assert apps.inner_text("h2") == "Notes CLI"

        with apps.expect_navigation() as navigation:
            apps.click('button:has-text("Sign out")')

        response = navigation.value
        assert response is not None and response.status == 200
        assert {name: response.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
        assert apps.inner_text("h1") == "You are signed out"
        assert "as_session" not in [cookie["name"] for cookie in apps.context.cookies()]
        assert rows(notes_as.db, "SELECT * FROM browser_sessions") == []
        apps.goto(notes_as.url + "/account/apps")
        assert apps.inner_text("h1") == "You are not signed in"
        client = notes.register(client_name="Notes CLI", redirect_uris=["http://127.0.0.1/callback"])
        apps.goto(authorization(notes, client).url)
        assert urlsplit(apps.url).path.endswith("/login")

    def test_the_home_page_shows_who_is_signed_in_and_signs_out(
        self, page: Page, notes: Issuer, notes_as: AuthorizationServer
    ):
        """Issue 17 (The person's pages): the home page names the signed-in user, links the connected apps, and its
        Sign out leads to the signed-out page; then the home page says not signed in."""
        self.signed_in(page, notes)
        home = page.context.new_page()
        home.goto(notes_as.url + "/")
        assert home.inner_text(".session") == f"Signed in as {ALICE}."
        assert home.get_attribute('a:has-text("Connected apps")', "href") == "/account/apps"

        with home.expect_navigation():
            home.click('button:has-text("Sign out")')

        assert home.inner_text("h1") == "You are signed out"
        home.goto(notes_as.url + "/")
        assert home.inner_text(".session").startswith("You are not signed in.")

    @pytest.mark.parametrize("token", [None, "forged-token"], ids=["no token", "wrong token"])
    def test_a_sign_out_post_without_the_right_csrf_token_is_refused(
        self, page: Page, notes: Issuer, notes_as: AuthorizationServer, token: str | None
    ):
        """Issue 17, AS-23, OAuth 2.1 §7.10: signing out is a form like the others; another site's POST (without the
        page's CSRF token) is refused with 403 and the session lives on."""
        self.signed_in(page, notes)

        response = page.request.post(
            notes_as.url + SIGN_OUT, form={"csrf_token": token} if token else {}, max_redirects=0
        )

        assert response.status == 403
        assert len(rows(notes_as.db, "SELECT * FROM browser_sessions")) == 1
        apps = page.context.new_page()
        apps.goto(notes_as.url + "/account/apps")
        assert apps.inner_text("h2") == "Notes CLI"

    def test_the_home_and_apps_pages_fit_a_phone(self, page: Page, notes: Issuer, notes_as: AuthorizationServer):
        """Issue 17: every page readable at 390 px wide, without sideways scrolling (the long issuer URLs wrap)."""
        self.signed_in(page, notes)
        phone = page.context.new_page()
        phone.set_viewport_size(PHONE)

        for path in ("/", "/account/apps"):
            phone.goto(notes_as.url + path)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (path, width)
            assert phone.locator('button:has-text("Sign out")').is_visible()
