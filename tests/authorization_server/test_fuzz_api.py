"""Fuzzing the JSON APIs (issue 6): hostile input gets a well-formed OAuth error, never a 5xx.

Registration (RFC 7591 §3) and every form-posting API of an issuer are sent hostile bodies,
content types and Authorization headers drawn by :mod:`tests.hostile`. Each answer must be JSON
with an ``error`` from the set its RFC defines for that endpoint, and a refused request must
leave no row behind.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import PUBLIC_CLIENT, Issuer, Registered, rows
from tests.hostile import (
    FUZZ,
    any_text,
    assert_no_traceback,
    form_bodies,
    form_content_types,
    hostile_authorization,
    hostile_json_bytes,
    json_content_types,
    json_values,
    near_miss,
)

#: RFC 7591 §3.2.2. ``invalid_request`` is this server's answer to a body over the size limit (413).
REGISTRATION_ERRORS = {
    "invalid_redirect_uri",
    "invalid_client_metadata",
    "invalid_software_statement",
    "unapproved_software_statement",
}

#: RFC 6749 §5.2, with RFC 8707 §2's ``invalid_target``.
TOKEN_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
}


#: RFC 7009 §2.2.1 (with RFC 6749 §5.2's codes for a bad request or client).
REVOCATION_ERRORS = {"invalid_request", "invalid_client", "unsupported_token_type"}

#: RFC 7662 §2.3: a bad request, or a caller that is not an authenticated MCP server.
INTROSPECTION_ERRORS = {"invalid_request", "invalid_client"}


@dataclass(frozen=True)
class FormApi:
    """A form-posting API endpoint of every issuer, the fields it reads and the errors its RFC allows."""

    path: str
    fields: tuple[str, ...]
    errors: frozenset[str]
    #: RFC 7009 §2.2: revocation answers an empty 200 to any token of an authenticated client.
    empty_200_allowed: bool = False


TOKEN_FIELDS = (
    "grant_type",
    "code",
    "code_verifier",
    "redirect_uri",
    "resource",
    "refresh_token",
    "scope",
    # RFC 8693 §2.1: token exchange, for MCP servers.
    "subject_token",
    "subject_token_type",
    "audience",
    "requested_token_type",
)
#: RFC 6749 §2.3.1 secrets and RFC 7523 §2.2 assertions (private_key_jwt).
CLIENT_FIELDS = ("client_id", "client_secret", "client_assertion", "client_assertion_type")

#: Each form API is fuzzed at the root issuer and an MCP issuer.
FORM_APIS = [
    FormApi("/token", (*TOKEN_FIELDS, *CLIENT_FIELDS), frozenset(TOKEN_ERRORS)),
    FormApi("/revoke", ("token", "token_type_hint", *CLIENT_FIELDS), frozenset(REVOCATION_ERRORS), True),
    FormApi("/introspect", ("token", "token_type_hint", *CLIENT_FIELDS), frozenset(INTROSPECTION_ERRORS)),
]

REGISTRATION_PATHS = ["/register", "/api/v1/authz/clients/register", "/api/v1/authz/clients/register/mcp/demo/latest"]

METADATA_FIELDS = [*PUBLIC_CLIENT, "scope", "client_uri", "logo_uri", "contacts", "tos_uri", "software_statement"]

#: Client metadata with some fields wrong: the shape a buggy client sends.
metadata_bodies = st.dictionaries(
    st.sampled_from(METADATA_FIELDS) | any_text, json_values | st.lists(near_miss, max_size=3), max_size=4
).map(lambda changes: json.dumps({**PUBLIC_CLIENT, **changes}).encode("utf-8", "surrogatepass"))


def count(server: AuthorizationServer, table: str) -> int:
    return int(rows(server.db, f"SELECT COUNT(*) FROM {table}")[0][0])  # noqa: S608 (our own table names)


def oauth_error(response: httpx2.Response) -> str:
    """The ``error`` of a well-formed JSON OAuth error response (RFC 6749 §5.2), checked on the way."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/json"
    body: Any = response.json()
    assert isinstance(body, dict) and isinstance(body["error"], str), body
    assert isinstance(body.get("error_description", ""), str), body
    return body["error"]


@pytest.fixture(name="client_id")
def _client_id(issuer: Issuer) -> str:
    """A public client of the issuer, so that fuzzed forms can name a real one."""
    return issuer.register().client_id


class TestRegistration:
    @pytest.mark.parametrize("path", REGISTRATION_PATHS)
    @FUZZ
    @given(body=hostile_json_bytes | metadata_bodies, content_type=json_content_types)
    def test_a_hostile_body_gets_an_rfc7591_error_and_writes_nothing(
        self, demo_as: AuthorizationServer, http: httpx2.Client, path: str, body: bytes, content_type: str
    ):
        """Issue 6, RFC 7591 §3.2.2: a client is registered whole (201) or not at all, with an RFC 7591 error."""
        before = count(demo_as, "clients"), count(demo_as, "authorization_journeys")

        response = http.post(demo_as.url + path, content=body, headers={"content-type": content_type})

        after = count(demo_as, "clients"), count(demo_as, "authorization_journeys")
        if response.status_code == 201:
            assert isinstance(response.json()["client_id"], str)
            journeys = 1 if "/mcp/" in path else 0  # the MCP-scoped endpoint starts the journey (seed 000)
            assert after == (before[0] + 1, before[1] + journeys)
        else:
            error = oauth_error(response)
            assert error in REGISTRATION_ERRORS or (error, response.status_code) == ("invalid_request", 413)
            assert after == before
        assert_no_traceback(demo_as)

    @FUZZ
    @given(mcp_server_id=any_text.filter(lambda text: text not in ("demo", "other")))
    def test_an_unknown_mcp_server_is_not_found_whatever_its_id(
        self, demo_as: AuthorizationServer, http: httpx2.Client, mcp_server_id: str
    ):
        """Issue 6, AS-17: an MCP-scoped registration naming no known MCP server is 404 not_found."""
        segment = quote(mcp_server_id.encode("utf-8", "surrogatepass"), safe="")

        response = http.post(f"{demo_as.url}/api/v1/authz/clients/register/mcp/{segment}/latest", json=PUBLIC_CLIENT)

        assert oauth_error(response) == "not_found"
        assert_no_traceback(demo_as)


#: RFC 7592 §2.1 (``invalid_token``, RFC 6750 §3.1) and, for a PUT, RFC 7591 §3.2.2.
CLIENT_CONFIGURATION_ERRORS = {"invalid_token", "invalid_request", *REGISTRATION_ERRORS}


class TestClientConfiguration:
    @FUZZ
    @given(
        data=st.data(),
        method=st.sampled_from(["GET", "PUT", "DELETE"]),
        authorization=st.none() | hostile_authorization,
        content_type=json_content_types,
    )
    def test_a_hostile_request_without_the_token_changes_nothing(
        self,
        demo_as: AuthorizationServer,
        root: Issuer,
        managed: Registered,
        data: st.DataObject,
        method: str,
        authorization: bytes | None,
        content_type: str,
    ):
        """Issue 6, AS-50, RFC 7592 §2.1: without the registration access token every method is 401 invalid_token."""
        body = data.draw(hostile_json_bytes | metadata_bodies) if method == "PUT" else b""
        headers = {"content-type": content_type} | ({"authorization": authorization} if authorization else {})

        response = root.http.request(method, managed.info["registration_client_uri"], content=body, headers=headers)

        assert (response.status_code, oauth_error(response)) == (401, "invalid_token")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert configuration(root, managed).json() == client_information_of(managed)
        assert_no_traceback(demo_as)

    @FUZZ
    @given(body=hostile_json_bytes | metadata_bodies, content_type=json_content_types)
    def test_a_hostile_replacement_with_the_token_is_refused_whole(
        self, demo_as: AuthorizationServer, root: Issuer, managed: Registered, body: bytes, content_type: str
    ):
        """Issue 6, AS-50, RFC 7592 §2.2: a PUT body without this client's ``client_id`` is refused, the client kept."""
        headers = {"content-type": content_type, "authorization": f"Bearer {managed.info['registration_access_token']}"}

        response = root.http.put(managed.info["registration_client_uri"], content=body, headers=headers)

        assert oauth_error(response) in CLIENT_CONFIGURATION_ERRORS
        assert configuration(root, managed).json() == client_information_of(managed)
        assert_no_traceback(demo_as)


@pytest.fixture(name="managed", scope="module")
def _managed(demo_as: AuthorizationServer) -> Iterator[Registered]:
    """One client registered at the root issuer whose configuration the fuzzed requests must never change."""
    with httpx2.Client() as http:
        response = http.post(demo_as.url + "/register", json=PUBLIC_CLIENT)
        assert response.status_code == 201, response.text
        yield Registered(response.json())


def configuration(issuer: Issuer, client: Registered) -> httpx2.Response:
    """RFC 7592 §2.1: the client's current configuration, read with its own token."""
    token = client.info["registration_access_token"]
    response = issuer.http.get(client.info["registration_client_uri"], headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response


def client_information_of(client: Registered) -> dict[str, Any]:
    """The registration response without what RFC 7592 §3 does not repeat on a read (the token)."""
    return {name: value for name, value in client.info.items() if name != "registration_access_token"}


class TestFormApis:
    @pytest.mark.parametrize("api", FORM_APIS, ids=[api.path for api in FORM_APIS])
    @FUZZ
    @given(data=st.data(), content_type=form_content_types, authorization=st.none() | hostile_authorization)
    def test_a_hostile_form_gets_an_error_of_its_rfc_and_issues_nothing(
        self,
        demo_as: AuthorizationServer,
        issuer: Issuer,
        client_id: str,
        api: FormApi,
        data: st.DataObject,
        content_type: str,
        authorization: bytes | None,
    ):
        """Issue 6, OAuth 2.1 §3.2.4: malformed, oversized or hostile forms are JSON errors of the endpoint's RFC."""
        valid = {"client_id": client_id, "grant_type": "refresh_token", "resource": issuer.resource or ""}
        body = data.draw(form_bodies(list(api.fields), valid))
        headers = {"content-type": content_type} | ({"authorization": authorization} if authorization else {})
        before = count(demo_as, "refresh_tokens")

        response = issuer.http.post(issuer.url + api.path, content=body, headers=headers)

        if not (api.empty_200_allowed and response.status_code == 200 and response.content == b""):
            assert oauth_error(response) in api.errors
        assert response.headers["cache-control"] == "no-store"
        assert count(demo_as, "refresh_tokens") == before
        assert_no_traceback(demo_as)
