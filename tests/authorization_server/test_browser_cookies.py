"""The cookies of the sign-in and consent pages (checklist AS-24; MCP security best practices,
Confused Deputy, consent cookie security): ``HttpOnly``, ``SameSite=Lax``, on the whole host,
and ``Secure`` with the ``__Host-`` prefix when the issuer is https."""

from http.cookies import SimpleCookie

import httpx2
import pytest

from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import Issuer, SignInForm, csrf_token


def set_cookies(response: httpx2.Response) -> SimpleCookie:
    """Every cookie the response sets, with its attributes."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


def assert_host_only_http_only_lax(cookie: SimpleCookie, name: str) -> None:
    morsel = cookie[name]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert (morsel["path"], morsel["domain"]) == ("/", "")


def test_on_a_plain_http_loopback_issuer_the_cookies_are_http_only_and_lax(notes: Issuer):
    """AS-24: the browser cookie set by /authorize and the session cookie set by sign-in."""
    started = notes.authorize(notes.register())
    url = str(httpx2.URL(notes.url).join(started.headers["location"]))
    signed_in = notes.sign_in(SignInForm(url, csrf_token(notes.http.get(url))), ALICE, ALICE_PASSWORD)

    browser, session = set_cookies(started), set_cookies(signed_in)

    assert_host_only_http_only_lax(browser, "as_browser")
    assert_host_only_http_only_lax(session, "as_session")
    assert not browser["as_browser"]["secure"]
    assert int(session["as_session"]["max-age"]) > 0


@pytest.mark.as_options("--issuer", "https://auth.example.com")
def test_on_an_https_issuer_the_cookies_are_secure_and_host_prefixed(notes: Issuer):
    """AS-24, RFC 6265bis §4.1.3.2: __Host- cookies are Secure, Path=/ and without Domain: no subdomain sets them."""
    started = notes.authorize(notes.register())

    browser = set_cookies(started)

    assert list(browser) == ["__Host-as_browser"]
    assert_host_only_http_only_lax(browser, "__Host-as_browser")
    assert browser["__Host-as_browser"]["secure"] is True
