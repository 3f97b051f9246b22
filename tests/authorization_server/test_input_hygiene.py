"""Input hygiene of registration and the authorization request (issue 11, items 11 and 15), in demo mode.

Client text with invisible formatting characters, look-alike hosts shown as A-labels, loopback redirect
URIs matched as raw strings, request objects and response modes this server does not speak, the
registered query kept as written, the registration path's version bounded, and literal special-use
addresses in ``jwks_uri``. The pages themselves are driven in Chromium in ``test_unicode_pages.py``.
"""

from typing import Any
from urllib.parse import quote_plus

import pytest

from mcp_authz.authorization_server.clients.metadata import parse_client_metadata, redirect_uri_problem
from mcp_authz.authorization_server.errors import InvalidClientMetadata
from mcp_authz.authorization_server.web.hosts import a_label, host_of, with_a_label_host
from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import Issuer, redirect_params, redirect_target
from tests.authorization_server.test_cimd import assert_error_page, token_error
from tests.authorization_server.test_rfc7591_registration import row_counts
from tests.documents import Answer, DocumentServer, client_document, document_client

#: U+202E RIGHT-TO-LEFT OVERRIDE: "Notes \u202etxt.exe" reads "Notes exe.txt".
RLO = "\u202e"
#: Invisible formatting characters (Unicode category Cf): bidi controls, zero-width joiners, the BOM.
FORMAT_CHARACTERS = [RLO, "\u2066", "\u200b", "\u200d", "\u200e", "\ufeff", "\u061c"]
#: "apple.example" spelled with a Cyrillic a (U+0430): looks like apple.example, is another host.
LOOK_ALIKE = "\u0430pple.example"
LOOK_ALIKE_A_LABEL = "xn--pple-43d.example"


class TestFormatCharactersInClientText:
    @pytest.mark.parametrize("char", FORMAT_CHARACTERS, ids=lambda char: f"U+{ord(char):04X}")
    def test_a_client_name_with_a_format_character_is_invalid_client_metadata_and_writes_nothing(
        self, demo_as: AuthorizationServer, demo: Issuer, char: str
    ):
        """Issue 11 item 11, RFC 7591 §2 and §3.2.2: a client_name with a Cf character (which reorders or
        hides what the consent page shows) is refused with invalid_client_metadata; no row is written."""
        before = row_counts(demo_as.db)

        response = demo.http.post(
            demo.registration_endpoint, json={**_public_client(), "client_name": f"Notes {char}txt.exe"}
        )

        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_client_metadata"
        assert "invisible formatting characters" in response.json()["error_description"]
        assert row_counts(demo_as.db) == before

    @pytest.mark.parametrize(
        ("field", "value", "error"),
        [
            ("software_id", f"id-{RLO}1", "invalid_client_metadata"),
            ("software_version", f"1.{RLO}2", "invalid_client_metadata"),
            ("contacts", [f"ops{RLO}@client.example"], "invalid_client_metadata"),
            ("client_uri", f"https://client.example/{RLO}", "invalid_client_metadata"),
            ("tos_uri", f"https://client.example/tos{RLO}", "invalid_client_metadata"),
            ("client_name", "Notes \x85", "invalid_client_metadata"),
            ("redirect_uris", [f"https://client.example/cb{RLO}"], "invalid_redirect_uri"),
        ],
        ids=lambda value: value if isinstance(value, str) and value.isidentifier() else None,
    )
    def test_other_human_readable_fields_refuse_format_and_control_characters(
        self, demo: Issuer, field: str, value: Any, error: str
    ):
        """Issue 11 item 11, RFC 7591 §2: every text field of the metadata, and each redirect URI, refuses
        Cf characters (and C1 control characters such as U+0085) with the error RFC 7591 §3.2.2 names."""
        response = demo.http.post(demo.registration_endpoint, json={**_public_client(), field: value})

        assert (response.status_code, response.json()["error"]) == (400, error), response.text

    def test_a_name_in_another_script_is_still_accepted(self, demo: Issuer):
        """Issue 11 item 11: only invisible formatting characters are refused, not names in other scripts."""
        client = demo.register(client_name="Заметки 笔记 ملاحظات")

        assert client.info["client_name"] == "Заметки 笔记 ملاحظات"

    def test_a_metadata_document_with_a_format_character_is_refused_like_other_bad_documents(
        self, demo: Issuer, documents: DocumentServer
    ):
        """Issue 11 item 11, CIMD §4.1, RFC 7591 §2: a document whose client_name holds a bidi override is an
        error page at /authorize and invalid_client at /token, as every invalid document is."""
        path = "/hygiene/bidi.json"
        url = documents.serve(path, Answer.json(client_document(documents.url(path), client_name=f"CLI {RLO}gpj")))

        assert_error_page(demo.authorize(document_client(url)), "invisible formatting characters")
        status, error, description = token_error(demo, url)
        assert (status, error) == (401, "invalid_client")
        assert "invisible formatting characters" in description


class TestHostsAsALabels:
    """Issue 11 item 11: what the consent and connected-apps pages show of a host (``web/hosts.py``)."""

    @pytest.mark.parametrize(
        ("host", "shown"),
        [
            (LOOK_ALIKE, LOOK_ALIKE_A_LABEL),
            ("b\u00fccher.example", "xn--bcher-kva.example"),
            ("app.example.com", "app.example.com"),
            ("127.0.0.1", "127.0.0.1"),
            ("\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "example.com"),  # full-width: the browser goes here
        ],
    )
    def test_a_host_is_shown_as_its_a_label(self, host: str, shown: str):
        """Issue 11 item 11, RFC 5890 §2.3.2.1: a look-alike Unicode host is shown as the A-label it is."""
        assert a_label(host) == shown

    def test_a_label_idna_refuses_is_shown_as_raw_punycode_never_as_its_characters(self):
        """Issue 11 item 11: a bidi override in a host (IDNA refuses it) never reaches the page as is."""
        shown = a_label(f"abc{RLO}moc.example")

        assert shown.isascii()
        assert shown.startswith("xn--")
        assert shown.endswith(".example")

    def test_a_document_url_keeps_everything_but_its_host(self):
        """Issue 11 item 11, CIMD §6.3: a client id URL is shown with its host as an A-label, the rest as it was."""
        url = f"https://{LOOK_ALIKE}:8443/clients/cli.json"

        assert with_a_label_host(url) == f"https://{LOOK_ALIKE_A_LABEL}:8443/clients/cli.json"
        assert host_of(url) == LOOK_ALIKE_A_LABEL
        assert with_a_label_host("opaque-client-id") == "opaque-client-id"


class TestLoopbackRedirectUrisAsRawStrings:
    @pytest.mark.parametrize(
        "asked",
        [
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:019050/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:/callback",
            "\thttp://127.0.0.1:5000/callback",
            " http://127.0.0.1:5000/callback",
            "http://127.0.0.1:5000/call\tback",
            "http://127.0.0.1:5000/callback\n",
            "HTTP://127.0.0.1:5000/callback",
            "http://127.0.0.1:5000/callback?",
            "http://127.0.0.1:5000/callback#x",
            "http://127.0.0.1:5000/%63allback",
            "http://user@127.0.0.1:5000/callback",
        ],
        ids=repr,
    )
    def test_only_the_port_may_differ_from_the_registered_uri(self, demo: Issuer, asked: str):
        """Issue 11 item 15, RFC 8252 §7.3, OAuth 2.1 §2.3.1: the URI is compared as the raw string but its
        port; tabs, spaces, a port of 0 or with a leading zero, an empty or out-of-range port are not
        registered URIs: an error page, never a redirect."""
        client = demo.register(redirect_uris=["http://127.0.0.1/callback"])

        response = demo.authorize(client, redirect_uri=asked)

        assert response.status_code == 400, response.headers.get("location")
        assert "location" not in response.headers

    @pytest.mark.parametrize(
        ("registered", "asked"),
        [
            ("http://127.0.0.1/callback", "http://127.0.0.1:65535/callback"),
            ("http://127.0.0.1:8765/callback", "http://127.0.0.1/callback"),
            ("http://localhost:3000/cb?tenant=a%20b", "http://localhost:49152/cb?tenant=a%20b"),
            ("http://[::1]/", "http://[::1]:1/"),
            ("http://localhost", "http://localhost:8080"),
        ],
    )
    def test_any_real_port_still_matches_a_loopback_registration(self, demo: Issuer, registered: str, asked: str):
        """RFC 8252 §7.3, USER-NEEDS theme 5: port-agnostic matching stays, for localhost, [::1], portless
        registrations and registered queries too."""
        client = demo.register(redirect_uris=[registered])

        response = demo.authorize(client, redirect_uri=asked)

        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith(asked + ("&" if "?" in asked else "?"))
        assert "code" in redirect_params(response)


class TestTheRegisteredQueryIsKeptAsWritten:
    QUERY_URI = "http://127.0.0.1:8765/callback?b=2&a=%7E+x&flag&c=%2f"

    def test_the_code_is_appended_to_the_query_character_for_character(self, demo: Issuer):
        """Issue 11 item 15, OAuth 2.1 §4.1.2 and §2.3.1: the registered query is neither decoded,
        re-encoded nor reordered; code, state and iss follow it."""
        client = demo.register(redirect_uris=[self.QUERY_URI])

        response = demo.authorize(client, state="s-q")

        assert response.status_code == 303
        assert response.headers["location"].startswith(self.QUERY_URI + "&code=")
        assert response.headers["location"].endswith("&state=s-q&iss=" + _form(demo.url))

    def test_an_error_is_appended_the_same_way_at_another_port(self, demo: Issuer):
        """Issue 11 item 15, OAuth 2.1 §4.1.2.1: with a loopback port of the client's choosing, the error
        redirect keeps the registered query as written too."""
        client = demo.register(redirect_uris=[self.QUERY_URI])
        asked = self.QUERY_URI.replace(":8765", ":40123")

        response = demo.authorize(client, redirect_uri=asked, code_challenge_method="plain")

        assert response.status_code == 303
        assert response.headers["location"].startswith(asked + "&error=invalid_request&")


class TestRequestFormsNotSupported:
    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"request": "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im1jcDpyZWFkIn0."}, "request_not_supported"),
            ({"request_uri": "urn:ietf:params:oauth:request_uri:abc"}, "request_uri_not_supported"),
            ({"request_uri": "https://client.example/request.jwt"}, "request_uri_not_supported"),
            ({"response_mode": "fragment"}, "invalid_request"),
            ({"response_mode": "form_post"}, "invalid_request"),
            ({"response_mode": "query.jwt"}, "invalid_request"),
        ],
        ids=repr,
    )
    def test_it_is_refused_back_at_the_redirect_uri_with_state_and_iss(
        self, demo: Issuer, params: dict[str, str], error: str
    ):
        """Issue 11 item 15, RFC 9101 §6.1 (no request objects, no PAR), OAuth 2.1 §4.1.2 (only the query
        response mode): refused through the redirect URI as every error once it is known (decision 0007)."""
        client = demo.register()

        response = demo.authorize(client, state="s-r", **params)

        assert response.status_code == 303
        assert redirect_target(response) == client.redirect_uri
        returned = redirect_params(response)
        assert returned.pop("error_description")
        assert returned == {"error": error, "state": "s-r", "iss": demo.url}

    def test_response_mode_query_is_what_it_does_anyway(self, demo: Issuer):
        """OAuth 2.1 §4.1.2, RFC 8414 response_modes_supported ["query"]: naming it changes nothing."""
        response = demo.authorize(demo.register(), response_mode="query")

        assert sorted(redirect_params(response)) == ["code", "iss", "state"]


class TestRegistrationPathVersion:
    @pytest.mark.parametrize("version", ["v" * 65, "v 1", "v%251", "2025~06", "v:1", "caf\u00e9"], ids=repr)
    def test_a_version_outside_the_bound_is_404_and_writes_nothing(
        self, demo_as: AuthorizationServer, demo: Issuer, version: str
    ):
        """Issue 11 item 15: {version} of /api/v1/authz/clients/register/mcp/{id}/{version} is at most 64 of
        [A-Za-z0-9._-]; another is a 404 not_found naming the rule, and no row is written."""
        before = row_counts(demo_as.db)
        url = f"{demo_as.url}/api/v1/authz/clients/register/mcp/demo/{version}"

        response = demo.http.post(url, json=_public_client())

        assert response.status_code == 404, response.text
        assert response.json()["error"] == "not_found"
        assert "1 to 64 letters" in response.json()["error_description"]
        assert row_counts(demo_as.db) == before

    @pytest.mark.parametrize("version", ["2025-06-18", "v1.2_beta-3", "V" * 64])
    def test_a_version_within_the_bound_registers(self, demo_as: AuthorizationServer, demo: Issuer, version: str):
        """Issue 11 item 15: the versions MCP servers use (dates, semver-like) still register."""
        url = f"{demo_as.url}/api/v1/authz/clients/register/mcp/demo/{version}"

        assert demo.http.post(url, json=_public_client()).status_code == 201

    def test_the_command_line_refuses_such_a_version(self, demo_as: AuthorizationServer):
        """Issue 11 item 15: an MCP server cannot be given a version its own registration path would refuse."""
        result = demo_as.cli(
            "mcp-servers", "add", "--id", "bad-version", "--resource", "http://localhost:8199/mcp", "--scopes", "a",
            "--version", "2026 spring", check=False,
        )  # fmt: skip

        assert result.returncode != 0
        assert "version must be 1 to 64" in result.stderr


class TestLiteralAddressesOfJwksUri:
    @pytest.mark.parametrize(
        "host",
        [
            "10.0.0.1",
            "169.254.169.254",
            "0xa9.254.169.254",
            "2852039166",
            "100.64.0.1",
            "0.0.0.0",  # noqa: S104 - an address a client might name, not one bound to
            "[fd00::1]",
            "[fe80::1]",
            "[::ffff:10.0.0.1]",
            "[64:ff9b::a00:1]",
        ],
    )
    def test_a_special_use_literal_is_invalid_client_metadata(self, demo: Issuer, host: str):
        """Issue 11 item 15, RFC 6890, RFC 7591 §3.2.2: a jwks_uri whose host is a literal special-use
        address (in any form getaddrinfo reads) is refused at registration, by safe_fetch's rule."""
        response = demo.http.post(demo.registration_endpoint, json=_key_client(f"https://{host}/jwks.json"))

        assert (response.status_code, response.json()["error"]) == (400, "invalid_client_metadata"), response.text
        assert "special-use address" in response.json()["error_description"]

    def test_a_public_literal_is_accepted(self, demo: Issuer):
        """RFC 7591 §2: a literal public address is a host like any other; it is checked again when fetched."""
        response = demo.http.post(demo.registration_endpoint, json=_key_client("https://93.184.215.14/jwks.json"))

        assert response.status_code == 201, response.text

    def test_loopback_literals_are_refused_without_the_loopback_switch(self, fresh_root: Issuer):
        """Issue 11 item 15, decision 0015: loopback is only for --allow-loopback-client-metadata."""
        for host in ("127.0.0.1", "127.1", "[::1]"):
            response = fresh_root.http.post(
                fresh_root.registration_endpoint, json=_key_client(f"https://{host}/jwks.json")
            )
            assert (response.status_code, response.json()["error"]) == (400, "invalid_client_metadata"), host


class TestHostsThatAreNotDomainNames:
    """Hosts the IDNA codec refuses (issue 11 item 7's hosts), offered at registration."""

    HOSTS = ("a..com", "%E2%80%AE.com", "x" * 64 + ".com", "\u202e.com")

    @pytest.mark.parametrize("host", HOSTS, ids=["empty-label", "percent-encoded", "label-of-64", "U+202E"])
    def test_a_redirect_uri_with_such_a_host_is_invalid_redirect_uri_and_writes_nothing(
        self, demo_as: AuthorizationServer, demo: Issuer, host: str
    ):
        """RFC 7591 §3.2.2 (invalid_redirect_uri), RFC 5890 §2.3.1: a redirect URI no browser could reach
        (an empty label, a label over 63 octets, percent-encoding, a character IDNA refuses) is refused
        when registered, not kept to fail later at /authorize; no row is written."""
        before = row_counts(demo_as.db)

        response = demo.http.post(
            demo.registration_endpoint, json={**_public_client(), "redirect_uris": [f"https://{host}/cb"]}
        )

        assert (response.status_code, response.json()["error"]) == (400, "invalid_redirect_uri")
        assert row_counts(demo_as.db) == before

    @pytest.mark.parametrize("field", ["client_uri", "logo_uri", "tos_uri", "policy_uri"])
    def test_a_client_web_page_with_such_a_host_is_invalid_client_metadata(self, demo: Issuer, field: str):
        """RFC 7591 §2 and §3.2.2: the client's web pages are shown as links on the consent page, so a
        host that is not a domain name is invalid_client_metadata."""
        response = demo.http.post(demo.registration_endpoint, json={**_public_client(), field: "https://a..com/about"})

        assert (response.status_code, response.json()["error"]) == (400, "invalid_client_metadata")

    def test_a_look_alike_unicode_host_is_still_a_domain_name(self, demo: Issuer):
        """RFC 5890: a host in another script is a valid internationalised name; the pages show its
        A-label (``TestHostsAsALabels``), registration accepts it."""
        response = demo.http.post(
            demo.registration_endpoint, json={**_public_client(), "redirect_uris": [f"https://{LOOK_ALIKE}/cb"]}
        )

        assert response.status_code == 201, response.text


def _public_client() -> dict[str, Any]:
    return {
        "client_name": "Hygiene client",
        "redirect_uris": ["http://127.0.0.1:8765/callback"],
        "token_endpoint_auth_method": "none",
    }


def _key_client(jwks_uri: str) -> dict[str, Any]:
    return {**_public_client(), "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri}


def _form(value: str) -> str:
    return quote_plus(value)


def test_every_control_character_is_refused_and_nothing_else_of_latin_1():
    """Issue 11 item 11, RFC 7591 §2 (kept by issue 14's faster check): a client_name holding any C0 control,
    DEL or a C1 control is invalid_client_metadata for its control characters; no other character up to U+00FF
    is (U+00AD, SOFT HYPHEN, is refused as a format character)."""
    controls = {chr(code) for code in [*range(0x20), *range(0x7F, 0xA0)]}
    for code in range(0x100):
        char = chr(code)
        body = {"redirect_uris": ["http://127.0.0.1/callback"], "client_name": f"Notes{char}app"}
        try:
            parse_client_metadata(
                body, grant_types_supported=("authorization_code",), auth_methods_supported=("none",), scopes_offered=()
            )
            refused = False
        except InvalidClientMetadata as error:
            refused = "control characters" in error.description
        assert refused == (char in controls), hex(code)


def test_a_redirect_uri_with_a_space_or_a_control_character_is_refused_and_no_other_of_latin_1():
    """OAuth 2.1 §2.3.1, RFC 3986 §2 (kept by issue 14's faster check): a space, a C0 control or DEL in a
    redirect URI is refused for it; no other character up to U+00FF is refused for that reason."""
    refused_for_it = set()
    for code in range(0x100):
        problem = redirect_uri_problem(f"http://127.0.0.1/callback?x=a{chr(code)}b")
        if problem == "it contains spaces or control characters":
            refused_for_it.add(code)
    assert refused_for_it == {*range(0x21), 0x7F}
