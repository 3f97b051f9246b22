"""Look-alike hosts on the consent and connected-apps pages, in real headless Chromium (issue 11 item 11).

A client may register a redirect URI on an internationalised host that reads like another
(``apple.example`` spelled with a Cyrillic a). The pages show every host as its A-label
(``web/hosts.py``), so the user sees ``xn--pple-43d.example``, not a familiar name.
"""

import httpx2
import pytest
from playwright.sync_api import Page

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import Issuer, Pkce
from tests.authorization_server.test_input_hygiene import LOOK_ALIKE, LOOK_ALIKE_A_LABEL
from tests.authorization_server.test_login_consent_pages import answer, authorization, sign_in

pytestmark = pytest.mark.browser

LOOK_ALIKE_CALLBACK = f"https://{LOOK_ALIKE}/callback"


def test_the_consent_page_shows_a_look_alike_redirect_host_as_its_a_label(page: Page, notes: Issuer):
    """Issue 11 item 11, MCP Security Considerations (Confused Deputy): the host answers go to is shown
    in A-label form, so a Unicode look-alike of a known host cannot pass for it."""
    client = notes.register(client_name="Apple Notes", redirect_uris=[LOOK_ALIKE_CALLBACK])
    query = notes.authorization_query(client, Pkce.new(), redirect_uri=LOOK_ALIKE_CALLBACK, scope="notes:read")

    page.goto(str(httpx2.URL(notes.authorization_endpoint, params=query)))
    sign_in(page)

    assert page.url.endswith("/consent"), page.url
    assert page.inner_text(".redirect-host") == LOOK_ALIKE_A_LABEL
    assert LOOK_ALIKE not in page.content()


def test_the_connected_apps_page_shows_every_redirect_host_as_its_a_label(
    page: Page, notes: Issuer, notes_as: AuthorizationServer
):
    """Issue 11 item 11, USER-NEEDS 15: the apps page lists the hosts an approved client may send answers
    to in A-label form, the look-alike one included."""
    client = notes.register(client_name="Apple Notes", redirect_uris=["http://127.0.0.1/callback", LOOK_ALIKE_CALLBACK])
    request = authorization(notes, client)
    page.goto(request.url)
    sign_in(page)
    answer(page, "Allow")
    apps = page.context.new_page()  # the first tab is still failing to reach the callback

    apps.goto(notes_as.url + "/account/apps")

    assert apps.inner_text("h2") == "Apple Notes"
    assert apps.inner_text(".redirect-host") == f"127.0.0.1, {LOOK_ALIKE_A_LABEL}"
    assert LOOK_ALIKE not in apps.content()
