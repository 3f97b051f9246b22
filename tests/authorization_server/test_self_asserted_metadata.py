"""What a dynamically registered client says about itself is untrusted (checklist AS-49; RFC 7591
§5; OAuth 2.1 §7.2): its name is shown as text, never as markup, and the pages fetch nothing
the client named (AS-25: no third-party resources, so no tracking of who opens the page)."""

import re

import httpx2
from markupsafe import escape

from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import Issuer, SignInForm, csrf_token

HOSTILE_NAME = '<script>alert("pwned")</script><img src="https://tracker.example/pixel.gif">'


def test_the_sign_in_and_consent_pages_show_the_client_name_as_text_and_load_nothing_it_names(notes: Issuer):
    """AS-49, AS-25: a hostile client_name is escaped; logo_uri and client_uri are not fetched by the page."""
    client = notes.register(
        client_name=HOSTILE_NAME,
        logo_uri="https://tracker.example/logo.png",
        client_uri="https://tracker.example/",
    )
    started = notes.authorize(client)
    url = str(httpx2.URL(notes.url).join(started.headers["location"]))
    sign_in_page = notes.http.get(url)
    signed_in = notes.sign_in(SignInForm(url, csrf_token(sign_in_page)), ALICE, ALICE_PASSWORD)
    consent_page = notes.http.get(str(httpx2.URL(notes.url).join(signed_in.headers["location"])))

    assert consent_page.status_code == 200
    for page in (sign_in_page, consent_page):
        assert "&lt;script&gt;alert(" in page.text
        assert "<script" not in page.text
        assert re.findall(r'(?:src|href)="(https?://[^"]*)"', page.text) == []
        assert "tracker.example" not in page.text.replace(str(escape(HOSTILE_NAME)), "")
