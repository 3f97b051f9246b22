"""Consent memory and the connected apps page (AS-24; MCP-SBP Confused Deputy, per-client consent; USER-NEEDS 15).

A server without demo mode, with the ``notes`` MCP server and user alice. Over HTTP, the test's
client keeps the cookies a browser would; the connected apps page is also driven in real Chromium.
"""

from datetime import UTC, datetime

import httpx2
import pytest
from playwright.sync_api import Page

from scripts.stack import AuthorizationServer
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import (
    Code,
    Issuer,
    Pkce,
    Registered,
    SignInForm,
    csrf_token,
    redirect_params,
    rows,
)
from tests.authorization_server.test_login_consent_pages import answer, authorization, query_of, sign_in
from tests.documents import DocumentServer, document_client

READ, READ_WRITE = "notes:read", "notes:read notes:write"


@pytest.fixture(name="client")
def _client(notes: Issuer) -> Registered:
    return notes.register(client_name="Notes CLI")


#: What a browser says of a navigation the user started: the application opened the URL (Fetch Metadata).
USER_STARTED = {"Sec-Fetch-Site": "none"}


def started(
    notes: Issuer, client: Registered, scope: str, headers: dict[str, str] | None = None, **params: str
) -> tuple[Pkce, httpx2.Response]:
    """Open an authorization request, signing in if the server asks; the answer that follows sign-in.

    By default the request says what a browser says when the application opened it (``USER_STARTED``).
    """
    pkce = Pkce.new()
    query = notes.authorization_query(client, pkce, scope=scope, **params)
    response = notes.http.get(
        notes.authorization_endpoint, params=query, headers=USER_STARTED if headers is None else headers
    )
    if response.headers["location"].endswith("/login"):
        url = str(httpx2.URL(notes.url).join(response.headers["location"]))
        response = notes.sign_in(SignInForm(url, csrf_token(notes.http.get(url))), ALICE, ALICE_PASSWORD)
    assert response.status_code == 303, response.text
    return pkce, response


def answered(notes: Issuer, consent: httpx2.Response, decision: str) -> httpx2.Response:
    """Answer the consent page a 303 leads to, as its form would; the 303 back to the client."""
    url = str(httpx2.URL(notes.url).join(consent.headers["location"]))
    answer_ = notes.http.post(url, data={"csrf_token": csrf_token(notes.http.get(url)), "decision": decision})
    assert answer_.status_code == 303, answer_.text
    return answer_


def approved(notes: Issuer, client: Registered, scope: str) -> Code:
    """A first authorization, approved on the consent page: its code."""
    pkce, consent = started(notes, client, scope)
    assert consent.headers["location"].endswith("/consent")
    return Code(redirect_params(answered(notes, consent, "allow"))["code"], pkce, client.redirect_uri)


def asks_for_consent(response: httpx2.Response) -> bool:
    return response.headers["location"].endswith("/consent")


class TestRememberedConsent:
    def test_a_second_authorization_of_the_same_client_and_scopes_skips_the_consent_page(
        self, notes: Issuer, client: Registered, notes_as: AuthorizationServer
    ):
        """USER-NEEDS 15: an approval is remembered per user, client, MCP server and scopes."""
        approved(notes, client, READ_WRITE)

        pkce, response = started(notes, client, READ)

        returned = redirect_params(response)
        assert sorted(returned) == ["code", "iss", "state"]
        tokens = notes.exchange(client, Code(returned["code"], pkce, client.redirect_uri))
        assert tokens.status_code == 200
        assert tokens.json()["scope"] == "notes:read"
        today = datetime.now(UTC).date().isoformat()
        remembered = rows(
            notes_as.db, "SELECT detail FROM journey_events WHERE step = 'consent_given' ORDER BY id DESC LIMIT 1"
        )
        assert remembered[0]["detail"] == f"remembered from {today}"

    def test_a_broader_scope_asks_for_consent_again(self, notes: Issuer, client: Registered):
        """AS-24: consent is keyed by scope too; a scope not yet approved asks again."""
        approved(notes, client, READ)

        _, response = started(notes, client, READ_WRITE)

        assert asks_for_consent(response)

    def test_a_new_client_gets_the_consent_page_after_another_was_approved(self, notes: Issuer, client: Registered):
        """AS-24, MCP-SBP Confused Deputy: a freshly registered client B never inherits client A's consent."""
        approved(notes, client, READ)
        newcomer = notes.register(client_name="Notes CLI")

        _, response = started(notes, newcomer, READ)

        assert asks_for_consent(response)

    def test_deny_remembers_nothing(self, notes: Issuer, client: Registered):
        """MCP-SBP Confused Deputy: only an approval is remembered; after Deny the next request asks again."""
        _, consent = started(notes, client, READ)
        assert redirect_params(answered(notes, consent, "deny"))["error"] == "access_denied"

        _, response = started(notes, client, READ)

        assert asks_for_consent(response)


class TestConsentMemoryAndMetadataDocuments:
    """Issue 11: a metadata-document ``client_id`` is the same for every installation, so remembered consent
    also checks the redirect URI and that the user started the navigation (decision 0012)."""

    @pytest.mark.parametrize(
        "headers",
        [{"Sec-Fetch-Site": "cross-site"}, {}],
        ids=["cross-site", "no-fetch-metadata"],
    )
    def test_a_request_the_user_did_not_start_shows_the_consent_page_despite_a_remembered_consent(
        self, notes: Issuer, client: Registered, headers: dict[str, str]
    ):
        """Issue 11 consent memory: a page elsewhere that starts the authorization (Sec-Fetch-Site cross-site),
        or a request without Fetch Metadata, cannot ride the user's earlier consent; the page is shown."""
        approved(notes, client, READ)

        _, response = started(notes, client, READ, headers=headers)

        assert asks_for_consent(response)

    def test_a_cross_site_request_that_signs_in_first_still_shows_the_consent_page(
        self, notes: Issuer, client: Registered
    ):
        """Issue 11 consent memory: signing in on the way does not make a cross-site request user-started."""
        approved(notes, client, READ)
        notes.http.cookies.clear()  # signed out: the request goes through the sign-in page first

        _, response = started(notes, client, READ, headers={"Sec-Fetch-Site": "cross-site"})

        assert asks_for_consent(response)

    @pytest.mark.parametrize("site", ["same-origin", "same-site"])
    def test_a_same_site_navigation_skips_the_page_as_a_user_started_one_does(
        self, notes: Issuer, client: Registered, site: str
    ):
        """Issue 11 consent memory: a link on the server's own site is the user's navigation (Fetch Metadata)."""
        approved(notes, client, READ)

        _, response = started(notes, client, READ, headers={"Sec-Fetch-Site": site})

        assert sorted(redirect_params(response)) == ["code", "iss", "state"]

    def test_another_registered_redirect_uri_asks_again_and_a_loopback_port_does_not(self, notes: Issuer):
        """Issue 11 consent memory: consent is remembered for the redirect URI it was given for; a loopback
        port may change between runs (RFC 8252 §7.3), another path is another place for the code to go."""
        client = notes.register(redirect_uris=["http://127.0.0.1/callback", "http://127.0.0.1/other"])
        first_uri = "http://127.0.0.1:40001/callback"
        _, consent = started(notes, client, READ, redirect_uri=first_uri)
        assert redirect_params(answered(notes, consent, "allow"))["code"]

        _, other_port = started(notes, client, READ, redirect_uri="http://127.0.0.1:40002/callback")
        _, other_path = started(notes, client, READ, redirect_uri="http://127.0.0.1:40002/other")

        assert sorted(redirect_params(other_port)) == ["code", "iss", "state"]
        assert asks_for_consent(other_path)


class TestAppsPageOverHttp:
    def test_without_a_session_the_apps_page_says_to_sign_in(self, notes_as: AuthorizationServer, http: httpx2.Client):
        """USER-NEEDS 15: the connected apps page shows nothing to a browser that is not signed in."""
        response = http.get(notes_as.url + "/account/apps")

        assert response.status_code == 200
        assert "<h1>You are not signed in</h1>" in response.text
        assert response.headers["x-frame-options"] == "DENY"
        assert "access-control-allow-origin" not in response.headers

    @pytest.mark.parametrize("token", [None, "forged-token"], ids=["no token", "wrong token"])
    def test_a_revoke_post_without_the_right_csrf_token_is_forbidden(
        self, notes: Issuer, client: Registered, notes_as: AuthorizationServer, token: str | None
    ):
        """AS-23, MCP-SBP Confused Deputy: revoking an app needs the page's CSRF token; nothing is revoked."""
        approved(notes, client, READ)
        form = {"client_id": client.client_id, "mcp_server_id": "notes"} | ({"csrf_token": token} if token else {})

        response = notes.http.post(notes_as.url + "/account/apps", data=form)

        assert response.status_code == 403
        assert len(rows(notes_as.db, "SELECT * FROM consents WHERE client_id = ?", client.client_id)) == 1

    def test_revoking_an_app_ends_a_code_not_yet_redeemed(
        self, notes: Issuer, client: Registered, notes_as: AuthorizationServer
    ):
        """USER-NEEDS 15: no token comes after Revoke, not even from a code issued just before."""
        code = approved(notes, client, READ)
        apps = notes_as.url + "/account/apps"
        chosen = {"client_id": client.client_id, "mcp_server_id": "notes"}
        form = {"csrf_token": csrf_token(notes.http.get(apps + "/revoke", params=chosen))} | chosen  # the confirmation

        response = notes.http.post(apps, data=form)

        assert (response.status_code, response.headers["location"]) == (303, "/account/apps?revoked=1")
        redeemed = notes.exchange(client, code)
        assert (redeemed.status_code, redeemed.json()["error"]) == (400, "invalid_grant")


@pytest.mark.browser
class TestAppsPageInChromium:
    def test_the_apps_page_lists_the_approval_and_revoke_ends_its_grant(
        self, page: Page, notes: Issuer, notes_as: AuthorizationServer
    ):
        """USER-NEEDS 15, MCP-SBP Confused Deputy: Revoke forgets the consent and revokes the app's tokens."""
        client = notes.register(client_name="Notes CLI", redirect_uris=["http://127.0.0.1/callback"])
        request = authorization(notes, client)
        page.goto(request.url)
        sign_in(page)
        assert "You can revoke it on Connected apps." in page.inner_text(".remembered")
        code = Code(query_of(answer(page, "Allow"))["code"], request.pkce, request.redirect_uri)
        refresh_token = notes.exchange(client, code).json()["refresh_token"]
        apps = page.context.new_page()  # the first tab is still failing to reach the callback

        apps.goto(notes_as.url + "/account/apps")

        assert apps.inner_text("h2") == "Notes CLI"
        assert apps.inner_text(".client-id") == client.client_id
        assert apps.inner_text(".redirect-host") == "127.0.0.1"
        assert apps.inner_text(".server") == "Notes (http://localhost:8111/mcp)"
        assert apps.locator(".scopes li").all_inner_texts() == ["notes:read", "notes:write"]
        assert apps.inner_text(".last-used-at").endswith(" UTC")  # the code was redeemed (issue 17)

        with apps.expect_navigation():
            apps.click('button:has-text("Revoke")')
        with apps.expect_navigation():  # the confirmation (issue 17)
            apps.click('button:has-text("Revoke access")')

        assert apps.inner_text(".none") == "You have not approved any application."
        refreshed = notes.refresh(client, refresh_token)
        assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")
        apps.goto(authorization(notes, client).url)
        assert apps.inner_text("h1") == "Allow Notes CLI to use Notes?"


class TestConsentPageLoadedTwice:
    def test_the_form_of_either_load_is_accepted_once(self, notes: Issuer, client: Registered):
        """USER-NEEDS 8, AS-23: a consent page rendered twice (a reload, a prefetch) keeps one CSRF token,
        so the first form still posts (FastMCP's double-load race made a deployment turn consent off);
        the answered interaction then takes no second answer."""
        _, consent = started(notes, client, READ)
        url = str(httpx2.URL(notes.url).join(consent.headers["location"]))
        first, second = csrf_token(notes.http.get(url)), csrf_token(notes.http.get(url))

        answer_ = notes.http.post(url, data={"csrf_token": first, "decision": "allow"})
        again = notes.http.post(url, data={"csrf_token": second, "decision": "allow"})

        assert first == second
        assert (answer_.status_code, sorted(redirect_params(answer_))) == (303, ["code", "iss", "state"])
        assert again.status_code == 400
        assert "location" not in again.headers


@pytest.mark.as_options("--allow-loopback-client-metadata")
class TestDocumentClients:
    def test_consent_is_remembered_per_document_url_and_a_new_url_never_inherits_it(
        self, notes: Issuer, documents: DocumentServer
    ):
        """AS-24 for CIMD clients (decision 0015): consent is keyed by the document URL; another URL with the
        same name and redirect URIs is a new client, and asks again."""
        first = document_client(documents.publish("/memory/first.json", client_name="Notes CLI"))
        second = document_client(documents.publish("/memory/second.json", client_name="Notes CLI"))
        approved(notes, first, READ)

        _, again = started(notes, first, READ)
        _, other = started(notes, second, READ)

        assert not asks_for_consent(again)
        assert asks_for_consent(other)

    def test_a_document_clients_consent_does_not_cover_another_of_its_redirect_uris(
        self, notes: Issuer, documents: DocumentServer
    ):
        """Issue 11 consent memory: every installation of a document client shares its client_id; the consent
        given for one redirect URI does not send codes, silently, to another the document lists."""
        url = documents.publish(
            "/memory/two-redirects.json",
            client_name="Notes Web",
            redirect_uris=["https://notes.example/callback", "https://evil.example/callback"],
        )
        client = document_client(url)
        _, consent = started(notes, client, READ, redirect_uri="https://notes.example/callback")
        answered(notes, consent, "allow")

        _, again = started(notes, client, READ, redirect_uri="https://notes.example/callback")
        _, elsewhere = started(notes, client, READ, redirect_uri="https://evil.example/callback")

        assert "code" in redirect_params(again)
        assert asks_for_consent(elsewhere)
