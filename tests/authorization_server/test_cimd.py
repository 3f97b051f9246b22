"""Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document; MCP 2026-07-28).

Documents are served by a real HTTP server on loopback (``tests/documents.py``). The demo server
fetches them: demo mode turns ``--allow-loopback-client-metadata`` on. A server without demo
mode keeps it off, and refuses every loopback and special-use address before connecting (AS-52).
"""

import json

import httpx2
import pytest

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import (
    CALLBACK,
    Issuer,
    Pkce,
    journey_of,
    redirect_params,
    rows,
    steps,
)
from tests.documents import Answer, DocumentServer, client_document, document_client, silent_listener


def assert_error_page(response: httpx2.Response, says: str) -> None:
    """OAuth 2.1 §4.1.2.1: a problem with the client is shown to the user, never redirected."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert says in response.text, response.text


def token_error(issuer: Issuer, client_id: str) -> tuple[int, str, str]:
    response = issuer.post_token(
        {"grant_type": "authorization_code", "code": "x" * 43, "code_verifier": "v" * 43, "client_id": client_id}
    )
    body = response.json()
    return response.status_code, body["error"], body["error_description"]


class TestADocumentClient:
    def test_it_authorizes_and_redeems_its_code_with_only_client_id_and_verifier(
        self, demo: Issuer, documents: DocumentServer, demo_as: AuthorizationServer
    ):
        """AS-56, CIMD §6.2: a public document client's code redeems with client_id + code_verifier only;
        it never registered, yet its journey records every step from the authorization request on."""
        url = documents.publish("/public/client.json")
        client = document_client(url)

        response = demo.exchange(client, demo.code(client))

        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "Bearer"
        journey = journey_of(demo_as.db, url)
        assert journey["status"] == "active"
        assert steps(demo_as.db, journey["id"])[:2] == ["authorization_requested", "user_authenticated"]

    def test_its_loopback_redirect_uri_may_use_another_port(self, demo: Issuer, documents: DocumentServer):
        """AS-54, RFC 8252 §7.3: a document's portless loopback redirect URI matches any port."""
        url = documents.publish("/ports/client.json", redirect_uris=["http://127.0.0.1/callback"])

        response = demo.authorize(document_client(url, "http://127.0.0.1:51234/callback"))

        assert response.status_code == 303, response.text
        assert "code" in redirect_params(response)

    def test_a_redirect_uri_not_in_the_document_gets_an_error_page(self, demo: Issuer, documents: DocumentServer):
        """AS-54: the request's redirect_uri must exactly match a document entry; else a page, no redirect."""
        url = documents.publish("/listed/client.json")

        response = demo.authorize(document_client(url, "http://127.0.0.1:8765/elsewhere"))

        assert_error_page(response, "redirect URI is missing or not one it registered")

    def test_the_same_document_works_at_every_issuer_and_each_gets_its_own_journey(
        self, demo: Issuer, root: Issuer, documents: DocumentServer, demo_as: AuthorizationServer
    ):
        """A document client is not bound to one issuer; its tokens are (aud, iss), as any client's."""
        url = documents.publish("/everywhere/client.json")
        client = document_client(url)

        for issuer in (demo, root):
            assert issuer.exchange(client, issuer.code(client)).status_code == 200

        journeys = rows(
            demo_as.db,
            "SELECT j.issuer FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
            " WHERE f.client_id = ?",
            url,
        )
        assert sorted(row["issuer"] for row in journeys) == sorted([demo.url, root.url])


class TestWhatWidelyUsedClientsPublish:
    """Issue 15, real clients: documents as MCP clients in use publish them keep working."""

    def test_a_grant_type_the_server_does_not_offer_is_ignored(
        self, demo: Issuer, documents: DocumentServer, demo_as: AuthorizationServer
    ):
        """Issue 15 (a widely used desktop client lists the jwt-bearer grant; it was refused with
        invalid_client, locking the client out), CIMD §4.1 with RFC 7591 §2: the grant is ignored; the
        client authorizes, redeems its code and refreshes."""
        url = documents.publish(
            "/desktop/client.json",
            grant_types=["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        )
        client = document_client(url)

        response = demo.exchange(client, demo.code(client))

        assert response.status_code == 200, response.text
        assert demo.refresh(client, response.json()["refresh_token"]).status_code == 200
        [row] = rows(demo_as.db, "SELECT metadata FROM clients WHERE client_id = ?", url)
        assert json.loads(row["metadata"])["grant_types"] == ["authorization_code", "refresh_token"]

    @pytest.mark.parametrize(
        "fields",
        [
            {"token_endpoint_auth_method": None},
            {"token_endpoint_auth_method": None, "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"]},
            {"token_endpoint_auth_method": "client_secret_basic", "token_endpoint_auth_methods_supported": ["none"]},
            {"software_statement_hint": "x", "logo": {"dark": "https://a.example/d.png"}, "vendor_flag": 0},
        ],
        ids=["method left out", "a choice of methods", "an unusable method and a usable choice", "unknown fields"],
    )
    def test_a_document_without_a_method_with_a_choice_or_with_unknown_fields_works(
        self, demo: Issuer, documents: DocumentServer, fields: dict[str, object]
    ):
        """Issue 15, CIMD §4.1, RFC 7591 §2 (unknown fields ignored, ``none`` by default here), OpenID
        Connect RP Metadata Choices 1.0 (``token_endpoint_auth_methods_supported``): the public client
        redeems its code with client_id and code_verifier."""
        url = documents.publish(f"/choices/{abs(hash(repr(fields)))}.json", **fields)
        client = document_client(url)

        response = demo.exchange(client, demo.code(client))

        assert response.status_code == 200, response.text

    def test_a_document_with_no_grant_the_server_offers_is_refused(self, demo: Issuer, documents: DocumentServer):
        """Issue 15: refused only when nothing usable is left; an error page at /authorize, never a redirect."""
        jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
        url = documents.publish("/nothing-left/client.json", grant_types=[jwt_bearer], response_types=None)

        assert_error_page(demo.authorize(document_client(url)), "none of the grant types")


class TestTheDocumentIsChecked:
    @pytest.mark.parametrize(
        ("fields", "says"),
        [
            ({"client_id": "https://attacker.example/client.json"}, "client_id is not its own URL"),
            ({"client_name": None}, "has no client_name"),
            ({"redirect_uris": None}, "has no redirect_uris"),
            ({"token_endpoint_auth_method": "client_secret_basic"}, "must be none or private_key_jwt"),
            ({"client_secret": "s3cret"}, "must not contain client_secret"),
            ({"client_secret_expires_at": 0}, "must not contain client_secret_expires_at"),
            ({"redirect_uris": ["javascript:alert(1)"]}, "is not allowed"),
            ({"token_endpoint_auth_method": "private_key_jwt"}, "needs the client"),
        ],
    )
    def test_an_invalid_document_is_an_error_page_at_authorize_and_invalid_client_at_token(
        self, demo: Issuer, documents: DocumentServer, fields: dict[str, object], says: str
    ):
        """AS-53, CIMD §4.1: client_id equals the URL (string comparison), client_name and redirect_uris
        are present, registration's redirect rules hold, and no shared secret appears."""
        path = f"/invalid/{abs(hash(repr(fields)))}.json"
        url = documents.serve(path, Answer.json(client_document(documents.url(path), **fields)))

        assert_error_page(demo.authorize(document_client(url)), says)
        status, error, description = token_error(demo, url)
        assert (status, error) == (401, "invalid_client")
        assert says in description

    def test_a_document_that_is_not_a_json_object_is_refused(self, demo: Issuer, documents: DocumentServer):
        """AS-53: the document is a JSON object served as JSON."""
        array = documents.serve("/array.json", Answer.json([1, 2]))
        html = documents.serve("/page.json", Answer(200, b"<html></html>", {"Content-Type": "text/html"}))

        assert_error_page(demo.authorize(document_client(array)), "is not a JSON object")
        assert_error_page(demo.authorize(document_client(html)), "it is not JSON")

    @pytest.mark.parametrize("body", [b"", b"{", b"[" * 5000], ids=["empty", "truncated", "deeply-nested"])
    def test_a_body_that_does_not_parse_is_refused_not_a_server_error(
        self, demo: Issuer, documents: DocumentServer, body: bytes
    ):
        """AS-52: whatever the document's bytes, the answer is the error page, never a 500."""
        url = documents.serve(f"/unparsable/{len(body)}.json", Answer(200, body))

        assert_error_page(demo.authorize(document_client(url)), "its body is not valid JSON")


class TestFetching:
    def test_a_redirect_is_not_followed(self, demo: Issuer, documents: DocumentServer):
        """AS-52, CIMD §4: a 302 (here to another loopback port) is an error; its target sees no connection."""
        with silent_listener() as internal:
            url = documents.serve(
                "/moved.json", Answer(302, b"", {"Location": f"http://127.0.0.1:{internal.port}/client.json"})
            )

            response = demo.authorize(document_client(url))

            assert_error_page(response, "redirect (302), which is not followed")
            assert not internal.connected()

    def test_a_body_over_5_kb_is_refused(self, demo: Issuer, documents: DocumentServer):
        """AS-52, CIMD §4.3: a 6 KB document is refused."""
        path = "/big.json"
        url = documents.url(path)
        documents.serve(path, Answer.json(client_document(url, padding="x" * 6 * 1024)))

        assert_error_page(demo.authorize(document_client(url)), "larger than 5120 bytes")

    def test_an_error_is_remembered_briefly_not_fetched_again_for_every_request(
        self, demo: Issuer, documents: DocumentServer
    ):
        """Issue 11 item 5 (was AS-55's "errors are never cached"): a 500 is remembered for
        --client-metadata-failure-cache seconds (30): the next requests at /authorize and /token
        are told the same without a fetch. That a fetch after that time succeeds is checked on the
        fetcher itself (test_safe_fetch.py), where time can be moved."""
        path = "/flaky/client.json"
        url = documents.url(path)
        documents.serve(path, Answer(500, b"{}"), Answer.json(client_document(url)))

        first = demo.authorize(document_client(url))
        second = demo.authorize(document_client(url))

        assert_error_page(first, "status 500")
        assert_error_page(second, "status 500")
        assert token_error(demo, url)[:2] == (401, "invalid_client")
        assert documents.hits[path] == 1

    def test_an_invalid_document_is_remembered_as_briefly_as_an_error(self, demo: Issuer, documents: DocumentServer):
        """Issue 11 item 5: an invalid document, whatever its max-age, is remembered as a failure, not as a
        document: the same error without a second fetch (a corrected one is used once the failure expires:
        test_safe_fetch.py)."""
        path = "/corrected/client.json"
        url = documents.url(path)
        invalid = Answer.json(client_document(url, client_name=None), **{"Cache-Control": "max-age=600"})
        documents.serve(path, invalid, Answer.json(client_document(url)))

        assert_error_page(demo.authorize(document_client(url)), "has no client_name")
        assert_error_page(demo.authorize(document_client(url)), "has no client_name")
        assert documents.hits[path] == 1

    def test_a_valid_document_is_reused_as_its_max_age_allows(self, demo: Issuer, documents: DocumentServer):
        """AS-55: Cache-Control max-age is honoured (within the server's bounds): one fetch for two requests."""
        path = "/cached/client.json"
        url = documents.url(path)
        documents.serve(path, Answer.json(client_document(url), **{"Cache-Control": "max-age=600"}))
        client = document_client(url)

        assert demo.authorize(client).status_code == 303
        assert demo.authorize(client).status_code == 303
        assert documents.hits[path] == 1

    def test_a_no_store_document_is_fetched_every_time(self, demo: Issuer, documents: DocumentServer):
        """AS-55, RFC 9111 §5.2.2.5: no-store is honoured."""
        path = "/nostore/client.json"
        url = documents.url(path)
        documents.serve(path, Answer.json(client_document(url), **{"Cache-Control": "no-store"}))
        client = document_client(url)

        demo.authorize(client)
        demo.authorize(client)

        assert documents.hits[path] == 2

    def test_a_changed_document_changes_the_client(
        self, demo: Issuer, documents: DocumentServer, demo_as: AuthorizationServer
    ):
        """The client's row is refreshed from the document: a redirect URI removed there is refused here."""
        path = "/changing/client.json"
        url = documents.url(path)
        other = "http://127.0.0.1:8765/other"
        documents.serve(
            path,
            Answer.json(client_document(url, redirect_uris=[CALLBACK, other]), **{"Cache-Control": "no-store"}),
            Answer.json(client_document(url), **{"Cache-Control": "no-store"}),
        )

        assert demo.authorize(document_client(url, other)).status_code == 303
        assert_error_page(demo.authorize(document_client(url, other)), "not one it registered")


class TestWithoutTheDevelopmentSwitch:
    """AS-51, AS-52: a server without ``--allow-loopback-client-metadata`` (the default)."""

    @pytest.mark.parametrize(
        ("url", "says"),
        [
            ("https://169.254.169.254/latest/meta-data.json", "special-use address"),
            ("https://10.0.0.5/c.json", "special-use address"),
            ("https://100.64.0.1/c.json", "special-use address"),
            ("https://[::ffff:10.0.0.5]/c.json", "special-use address"),
            ("https://[fd00::1]/c.json", "special-use address"),
            ("https://0.0.0.0/c.json", "special-use address"),
            ("http://app.example.com/client.json", "it must be an https URL"),
            ("https://app.example.com", "it must have a path"),
            ("https://app.example.com/", "it must have a path"),
            ("https://u:p@app.example.com/x.json", "it must not carry user information"),
            ("https://app.example.com/client.json#top", "it must not have a fragment"),
            ("https://app.example.com/a/../client.json", "it must not have . or .. path segments"),
            ("https://app.example.com/a/%2e%2e/client.json", "it must not have . or .. path segments"),
        ],
    )
    def test_a_refused_url_is_an_error_page_and_invalid_client(self, fresh_root: Issuer, url: str, says: str):
        """AS-51 (URL form), AS-52 (RFC 6890 addresses): refused before any connection."""
        assert_error_page(fresh_root.authorize(document_client(url)), says)
        status, error, description = token_error(fresh_root, url)
        assert (status, error) == (401, "invalid_client")
        assert says in description

    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
    def test_loopback_is_never_connected_to(self, fresh_root: Issuer, host: str):
        """AS-52: 127.0.0.1, and a name resolving to loopback, are refused; the listener there sees nothing."""
        with silent_listener() as listener:
            url = f"https://{host}:{listener.port}/client.json"

            assert_error_page(fresh_root.authorize(document_client(url)), "special-use address")
            assert token_error(fresh_root, url)[:2] == (401, "invalid_client")
            assert not listener.connected()

    def test_plain_http_on_loopback_is_refused_too(self, fresh_root: Issuer, documents: DocumentServer):
        """AS-51: http is only for the development switch; the document server is never asked."""
        path = "/never/client.json"
        url = documents.publish(path)

        assert_error_page(fresh_root.authorize(document_client(url)), "it must be an https URL")
        assert path not in documents.hits


class TestTheSwitch:
    @pytest.mark.as_options("--allow-loopback-client-metadata")
    def test_the_switch_lets_a_server_without_demo_mode_fetch_loopback_documents(
        self, fresh_as: AuthorizationServer, fresh_root: Issuer, documents: DocumentServer
    ):
        """Decision 0015: ``--allow-loopback-client-metadata`` alone admits http loopback documents."""
        url = documents.publish("/switch/client.json")

        response = fresh_root.authorize(document_client(url), Pkce.new())

        # The root issuer of a server without MCP servers knows the client; it has no resource to offer.
        assert response.status_code == 303, response.text
        assert redirect_params(response)["error"] == "invalid_target"
