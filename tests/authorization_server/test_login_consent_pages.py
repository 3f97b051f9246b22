"""Sign-in and consent, driven in real headless Chromium (OAuth 2.1 §3.1, §4.1.2, §7.10; MCP-S).

The server runs without demo mode, with an MCP server and a user added through its command line.
The client's loopback callback has no listener: the test reads the request the browser makes
to it (Playwright cannot route a redirect's target, so it observes the request instead).
"""

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
from playwright.sync_api import Browser, Page, Request, Response

from scripts.stack import AuthorizationServer, free_port
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import Code, Issuer, Pkce, Registered, journey_of

pytestmark = pytest.mark.browser

CALLBACK_REQUEST = "http://127.0.0.1:*/callback*"


@dataclass(frozen=True)
class Authorization:
    """An authorization request as the client opens it in the browser."""

    client: Registered
    pkce: Pkce
    redirect_uri: str
    url: str


def authorization(notes: Issuer, client: Registered, state: str = "browser-state") -> Authorization:
    """The client's request: a loopback callback on a port nobody listens on (RFC 8252 §7.3)."""
    pkce = Pkce.new()
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    query = notes.authorization_query(
        client, pkce, redirect_uri=redirect_uri, state=state, scope="notes:read notes:write"
    )
    return Authorization(client, pkce, redirect_uri, str(httpx2.URL(notes.authorization_endpoint, params=query)))


@pytest.fixture(name="client")
def _client(notes: Issuer) -> Registered:
    """An MCP client that registered through the MCP endpoint with a portless loopback redirect URI."""
    return notes.register(client_name="Notes CLI", redirect_uris=["http://127.0.0.1/callback"])


@pytest.fixture(name="request_")
def _request(notes: Issuer, client: Registered) -> Authorization:
    return authorization(notes, client)


def sign_in(page: Page, username: str = ALICE, password: str = ALICE_PASSWORD) -> Response | None:
    """Fill in and submit the sign-in form; the response of the page it leads to."""
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation() as navigation:
        page.click('button:has-text("Sign in")')
    return navigation.value


def answer(page: Page, button: str) -> Request:
    """Click Allow or Deny; the request the browser then makes to the client's callback."""
    with page.expect_request(CALLBACK_REQUEST) as callback:
        page.click(f'button:has-text("{button}")')
    return callback.value


def query_of(request: Request) -> dict[str, str]:
    pairs = parse_qsl(urlsplit(request.url).query)
    assert len(pairs) == len(dict(pairs)), pairs
    return dict(pairs)


class TestSignIn:
    def test_the_authorization_url_opens_the_sign_in_page_naming_client_and_server(
        self, page: Page, request_: Authorization
    ):
        """AS-21, OAuth 2.1 §3.1: the resource owner signs in before anything else."""
        response = page.goto(request_.url)

        assert response is not None and response.status == 200
        assert urlsplit(page.url).path.endswith("/login")
        assert page.title() == "Sign in · MCP authorization server"
        assert page.inner_text("main p") == "Notes CLI wants to use Notes on your behalf. Sign in to continue."

    def test_a_wrong_password_shows_the_sign_in_page_again_without_a_session(
        self, page: Page, request_: Authorization, notes_as: AuthorizationServer
    ):
        """AS-21: a failed sign-in says so, keeps the user on the page, and starts no session."""
        page.goto(request_.url)

        response = sign_in(page, password="not the password")

        assert response is not None and response.status == 200
        assert urlsplit(page.url).path.endswith("/login")
        assert page.inner_text('[role="alert"]') == "Wrong username or password."
        assert page.input_value('input[name="username"]') == ALICE
        assert [cookie["name"] for cookie in page.context.cookies()] == ["as_browser"]
        assert journey_of(notes_as.db, request_.client.client_id)["status"] == "authorization_requested"

    def test_going_back_to_the_sign_in_page_after_signing_in_leads_to_consent(
        self, page: Page, request_: Authorization
    ):
        """OAuth 2.1 §3.1: once the user signed in, the interaction's sign-in page has nothing left to ask."""
        page.goto(request_.url)
        sign_in(page)
        consent_url = page.url

        page.go_back()

        assert page.url == consent_url
        assert page.inner_text("h1") == "Allow Notes CLI to use Notes?"


class TestConsent:
    def test_the_consent_page_names_client_redirect_host_server_and_scopes(self, page: Page, request_: Authorization):
        """AS-22, MCP-S: client name, the redirect URI's host, the MCP server, the scopes, a localhost warning."""
        page.goto(request_.url)

        sign_in(page)

        assert urlsplit(page.url).path.endswith("/consent")
        assert page.inner_text("h1") == "Allow Notes CLI to use Notes?"
        assert page.inner_text(".redirect-host") == "127.0.0.1"
        assert page.locator(".scopes li").all_inner_texts() == ["notes:read", "notes:write"]
        assert "Notes (http://localhost:8111/mcp)" in page.inner_text("dl")
        assert "only receives answers at localhost" in page.inner_text('[role="note"]')

    def test_the_consent_page_asks_for_the_scope_left_after_narrowing(
        self, page: Page, notes: Issuer, client: Registered
    ):
        """Issue 15, RFC 6749 §3.3: a client asking for scopes Notes does not offer is not refused; the
        consent page asks only for those it offers, and Allow grants them (the token response says so)."""
        pkce = Pkce.new()
        redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
        query = notes.authorization_query(
            client, pkce, redirect_uri=redirect_uri, scope="notes:write calendar:read files:write offline_access"
        )
        page.goto(str(httpx2.URL(notes.authorization_endpoint, params=query)))

        sign_in(page)

        assert page.locator(".scopes li").all_inner_texts() == ["notes:write"]
        returned = query_of(answer(page, "Allow"))
        tokens = notes.exchange(client, Code(returned["code"], pkce, redirect_uri))
        assert tokens.json()["scope"] == "notes:write"

    def test_allow_sends_code_state_and_iss_to_the_callback_and_the_code_redeems(
        self, page: Page, request_: Authorization, notes: Issuer
    ):
        """AS-25, AS-26, RFC 9207: a 303 to the loopback callback with code, state and iss; then /token."""
        page.goto(request_.url)
        sign_in(page)

        callback = answer(page, "Allow")

        assert callback.url.startswith(request_.redirect_uri + "?")
        assert callback.redirected_from is not None
        redirect = callback.redirected_from.response()
        assert redirect is not None and redirect.status == 303
        returned = query_of(callback)
        assert sorted(returned) == ["code", "iss", "state"]
        assert (returned["state"], returned["iss"]) == ("browser-state", notes.url)
        code = Code(returned["code"], request_.pkce, request_.redirect_uri)
        tokens = notes.exchange(request_.client, code)
        assert tokens.status_code == 200
        assert tokens.json()["scope"] == "notes:read notes:write"

    def test_deny_sends_access_denied_with_state_and_iss(
        self, page: Page, request_: Authorization, notes: Issuer, notes_as: AuthorizationServer
    ):
        """AS-27, OAuth 2.1 §4.1.2.1: access_denied goes back with state and iss; the journey is denied."""
        page.goto(request_.url)
        sign_in(page)

        callback = answer(page, "Deny")

        returned = query_of(callback)
        assert returned.pop("error_description")
        assert returned == {"error": "access_denied", "state": "browser-state", "iss": notes.url}
        assert journey_of(notes_as.db, request_.client.client_id)["status"] == "denied"

    def test_a_signed_in_user_is_asked_again_for_consent_by_a_new_client(
        self, page: Page, request_: Authorization, notes: Issuer
    ):
        """AS-24, MCP-SBP per-client consent: a session skips the sign-in, never the consent of a new client."""
        page.goto(request_.url)
        sign_in(page)
        answer(page, "Allow")
        newcomer = notes.register(client_name="Lookalike CLI", redirect_uris=["http://127.0.0.1/callback"])

        tab = page.context.new_page()

        tab.goto(authorization(notes, newcomer).url)

        assert urlsplit(tab.url).path.endswith("/consent")
        assert tab.inner_text("h1") == "Allow Lookalike CLI to use Notes?"


PAGE_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class TestPageProtections:
    def test_every_page_forbids_framing_and_sends_no_referrer(self, page: Page, request_: Authorization, notes: Issuer):
        """AS-23, AS-25, OAuth 2.1 §7.10: frame-ancestors 'none', X-Frame-Options DENY, no-referrer."""
        login = page.goto(request_.url)
        consent = sign_in(page)
        error = page.goto(notes.authorization_endpoint + "?client_id=unknown")

        for response in (login, consent, error):
            assert response is not None
            headers = response.headers
            assert {name: headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS, response.url
            assert "frame-ancestors 'none'" in headers["content-security-policy"].split("; ")
        assert [login.status, consent.status, error.status] == [200, 200, 400]  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        "token", [None, "forged-token", "t\u00f6ken"], ids=["no token", "wrong token", "non-ascii token"]
    )
    def test_a_consent_post_without_the_right_csrf_token_is_forbidden(
        self, page: Page, request_: Authorization, notes_as: AuthorizationServer, token: str | None
    ):
        """AS-23, OAuth 2.1 §7.10: the consent form must carry this browser's token for this interaction."""
        page.goto(request_.url)
        sign_in(page)
        form = {"decision": "allow"} | ({"csrf_token": token} if token else {})

        response = page.request.post(page.url, form=form, max_redirects=0)

        assert response.status == 403
        assert "location" not in response.headers
        assert journey_of(notes_as.db, request_.client.client_id)["status"] == "authenticated"

    def test_a_sign_in_post_without_a_csrf_token_is_forbidden(
        self, page: Page, request_: Authorization, notes_as: AuthorizationServer
    ):
        """AS-23: the sign-in form carries a CSRF token too (no login CSRF)."""
        page.goto(request_.url)

        response = page.request.post(page.url, form={"username": ALICE, "password": ALICE_PASSWORD}, max_redirects=0)

        assert response.status == 403
        assert journey_of(notes_as.db, request_.client.client_id)["status"] == "authorization_requested"

    def test_a_consent_form_posted_from_another_browser_is_refused(
        self, browser: Browser, page: Page, request_: Authorization, notes_as: AuthorizationServer
    ):
        """AS-23, MCP-SBP Confused Deputy: an interaction belongs to the browser that started it."""
        page.goto(request_.url)
        sign_in(page)
        form = {"csrf_token": page.input_value('input[name="csrf_token"]'), "decision": "allow"}
        elsewhere = browser.new_context()

        try:
            response = elsewhere.request.post(page.url, form=form, max_redirects=0)
        finally:
            elsewhere.close()

        assert response.status == 400
        assert "location" not in response.headers
        assert journey_of(notes_as.db, request_.client.client_id)["status"] == "authenticated"
