"""Fuzzing the browser endpoints (issue 6): /authorize, sign-in and consent never answer 5xx.

A browser endpoint answers hostile input with a readable HTML page, or with a 303 that goes
either on to the next page of the interaction or back to the client's *registered* redirect
URI (OAuth 2.1 §4.1.2.1: never anywhere else).
"""

from urllib.parse import quote

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scripts.stack import AuthorizationServer
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import CALLBACK, Issuer, Pkce, csrf_token, redirect_target
from tests.hostile import (
    FUZZ,
    any_text,
    assert_no_traceback,
    form_bodies,
    form_content_types,
    form_pairs,
    hostile_cookies,
    query_value,
)

AUTHORIZATION_PARAMS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "resource",
    "scope",
]


def assert_page_or_redirect(response: httpx2.Response, *, allowed_targets: tuple[str, ...]) -> None:
    """A readable 4xx page, a page with a link back to the client, or a 303 to an allowed place."""
    if response.status_code == 303:
        location = response.headers["location"]
        assert location.startswith("/interaction/") or redirect_target(response) in allowed_targets, location
    elif response.headers["content-type"] == "application/json":  # a path no route matches (conventions/errors.md)
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
    else:
        assert response.status_code < 500, response.text[:300]
        assert response.headers["content-type"].startswith("text/html"), response.headers
        assert response.headers["x-frame-options"] == "DENY"


class TestAuthorize:
    @FUZZ
    @given(data=st.data(), cookie=st.none() | hostile_cookies)
    def test_a_hostile_query_gets_a_page_or_a_redirect_to_the_registered_uri(
        self, demo_as: AuthorizationServer, issuer: Issuer, data: st.DataObject, cookie: bytes | None
    ):
        """Issue 6, OAuth 2.1 §4.1.2.1: /authorize answers a page or a 303 to the registered redirect URI."""
        client = issuer.register()
        valid = {k: str(v) for k, v in issuer.authorization_query(client, Pkce.new()).items()}
        query = data.draw(form_pairs(AUTHORIZATION_PARAMS, valid, query_value))
        headers = {"cookie": cookie} if cookie else {}

        response = issuer.http.get(f"{issuer.authorization_endpoint}?{query}", headers=headers)

        assert_page_or_redirect(response, allowed_targets=(CALLBACK,))
        assert_no_traceback(demo_as)


def new_interaction(notes: Issuer) -> str:
    """Start an authorization request in ``notes.http``'s browser; the path of the page it leads to."""
    response = notes.authorize(notes.register())
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


@pytest.fixture(name="signed_in")
def _signed_in(notes_as: AuthorizationServer, notes: Issuer) -> Issuer:
    """The notes issuer driven by a browser in which alice signed in once (scrypt is slow on purpose)."""
    login = new_interaction(notes)
    form = {"csrf_token": csrf_token(notes.http.get(notes_as.url + login)), "username": ALICE}
    response = notes.http.post(notes_as.url + login, data={**form, "password": ALICE_PASSWORD})
    assert response.status_code == 303, response.text
    return notes


interaction_ids = any_text.map(lambda text: quote(text.encode("utf-8", "surrogatepass"), safe=""))


class TestInteractionForms:
    @FUZZ
    @given(
        data=st.data(),
        content_type=form_content_types,
        hostile_id=st.none() | interaction_ids,
        cookie=st.none() | hostile_cookies,
    )
    def test_a_hostile_sign_in_form_gets_a_page_or_a_redirect(
        self,
        notes_as: AuthorizationServer,
        notes: Issuer,
        data: st.DataObject,
        content_type: str,
        hostile_id: str | None,
        cookie: bytes | None,
    ):
        """Issue 6, OAuth 2.1 §3.1: sign-in answers hostile forms with a page or a 303, never a 5xx."""
        notes.http.cookies.clear()  # a new browser, not signed in
        login = new_interaction(notes)
        token = csrf_token(notes.http.get(notes_as.url + login))
        valid = {"csrf_token": token, "username": ALICE, "password": ALICE_PASSWORD}
        body = data.draw(form_bodies(["csrf_token", "username", "password"], valid))
        path = login if hostile_id is None else f"/interaction/{hostile_id}/login"

        headers = {"content-type": content_type} | ({"cookie": cookie} if cookie else {})

        response = notes.http.post(notes_as.url + path, content=body, headers=headers)

        assert_page_or_redirect(response, allowed_targets=())
        assert_no_traceback(notes_as)

    @FUZZ
    @given(data=st.data(), content_type=form_content_types)
    def test_a_hostile_consent_form_gets_a_page_or_a_redirect_to_the_registered_uri(
        self, notes_as: AuthorizationServer, signed_in: Issuer, data: st.DataObject, content_type: str
    ):
        """Issue 6, OAuth 2.1 §4.1.2: consent answers hostile forms with a page or a 303 to the client."""
        consent_path = new_interaction(signed_in)
        assert consent_path.endswith("/consent"), consent_path
        valid = {"csrf_token": csrf_token(signed_in.http.get(notes_as.url + consent_path)), "decision": "allow"}
        body = data.draw(form_bodies(["csrf_token", "decision"], valid))

        response = signed_in.http.post(
            notes_as.url + consent_path, content=body, headers={"content-type": content_type}
        )

        assert_page_or_redirect(response, allowed_targets=(CALLBACK,))
        assert_no_traceback(notes_as)


#: What a provider's redirect back carries (OAuth 2.1 §4.1.2, §4.1.2.1; RFC 9207 §2).
DOWNSTREAM_CALLBACK_PARAMS = ["code", "state", "iss", "error", "error_description", "error_uri"]


class TestDownstreamCallback:
    @FUZZ
    @given(data=st.data(), cookie=st.none() | hostile_cookies)
    def test_a_hostile_answer_from_a_provider_gets_a_page(
        self, demo_as: AuthorizationServer, root: Issuer, data: st.DataObject, cookie: bytes | None
    ):
        """Issue 4/6, OAuth 2.1 §4.1.2.1: an answer no journey waits for is an error page, never a redirect or a 5xx."""
        query = data.draw(form_pairs(DOWNSTREAM_CALLBACK_PARAMS, values=query_value))
        headers = {"cookie": cookie} if cookie else {}

        response = root.http.get(f"{demo_as.url}/downstream/callback?{query}", headers=headers)

        assert response.status_code == 400, response.text[:300]
        assert_page_or_redirect(response, allowed_targets=())
        assert_no_traceback(demo_as)
