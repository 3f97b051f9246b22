"""The consent page for a client known by its metadata document, in real headless Chromium (AS-22, AS-57).

The server runs without demo mode but with ``--allow-loopback-client-metadata``, so that it can
fetch documents from the loopback document server; a user signs in and answers on the page.
"""

import httpx2
import pytest
from playwright.sync_api import Page

from scripts.stack import AuthorizationServer, free_port
from tests.authorization_server.flows import Code, Issuer, Pkce, Registered, journey_of
from tests.authorization_server.test_login_consent_pages import answer, query_of, sign_in
from tests.documents import DocumentServer, document_client

pytestmark = [pytest.mark.browser, pytest.mark.as_options("--allow-loopback-client-metadata")]


def open_consent(page: Page, notes: Issuer, client: Registered, redirect_uri: str, pkce: Pkce) -> None:
    query = notes.authorization_query(client, pkce, redirect_uri=redirect_uri, scope="notes:read")
    page.goto(str(httpx2.URL(notes.authorization_endpoint, params=query)))
    sign_in(page)
    assert page.url.endswith("/consent"), page.url


def test_the_page_shows_the_document_host_and_the_redirect_host_without_a_localhost_warning(
    page: Page, notes: Issuer, documents: DocumentServer
):
    """AS-22, AS-57, CIMD §6.3: the client_id's host and the redirect URI's host are shown; a client with a
    non-loopback redirect URI gets no localhost warning."""
    url = documents.publish(
        "/consent/web-app.json",
        client_name="Web Notes",
        redirect_uris=["https://app.example.com/callback", "http://127.0.0.1/callback"],
    )
    open_consent(page, notes, document_client(url), "https://app.example.com/callback", Pkce.new())

    assert page.inner_text("h1") == "Allow Web Notes to use Notes?"
    assert page.inner_text(".client-host strong") == "127.0.0.1"
    assert page.inner_text(".redirect-host") == "app.example.com"
    assert page.locator('[role="note"]').count() == 0


def test_a_localhost_only_document_client_gets_the_warning_and_its_code_redeems(
    page: Page, notes: Issuer, documents: DocumentServer, notes_as: AuthorizationServer
):
    """AS-22 (SHOULD warn when every redirect URI is localhost), AS-56: after Allow, the code redeems with
    only client_id and code_verifier; the journey was created at /authorize, no registration."""
    url = documents.publish("/consent/cli.json", client_name="Notes CLI", redirect_uris=["http://127.0.0.1/callback"])
    client = document_client(url)
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    pkce = Pkce.new()

    open_consent(page, notes, client, redirect_uri, pkce)

    assert page.inner_text(".redirect-host") == "127.0.0.1"
    assert "only receives answers at localhost" in page.inner_text('[role="note"]')
    returned = query_of(answer(page, "Allow"))
    response = notes.exchange(client, Code(returned["code"], pkce, redirect_uri))
    assert response.status_code == 200, response.text
    assert journey_of(notes_as.db, url)["status"] == "active"
