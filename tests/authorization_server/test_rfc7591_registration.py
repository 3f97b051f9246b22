"""Dynamic client registration (RFC 7591) at /register, the generic API path and the MCP path (seed 000)."""

import hashlib
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mcp_authz.authorization_server.clients.service import new_client_id
from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import CALLBACK, PUBLIC_CLIENT, Issuer, rows

#: RFC 7523 §2.1's grant, listed by a widely used desktop MCP client (issue 15); this server does not offer it.
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

#: OpenID Connect RP Metadata Choices 1.0 §2: the methods a client can use, for the server to choose from.
CHOICES, METHOD = "token_endpoint_auth_methods_supported", "token_endpoint_auth_method"

#: Every table a registration may write to, counted before and after a refused one.
TABLES = ("clients", "authorization_journeys", "mcp_authorization_flows", "journey_events")


def row_counts(db: Path) -> dict[str, int]:
    return {table: rows(db, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}  # noqa: S608 - fixed names


def timestamp(text: str) -> float:
    """A database timestamp (ISO 8601) as seconds since the epoch."""
    return datetime.fromisoformat(text).timestamp()


class TestSuccessfulRegistration:
    def test_the_answer_is_201_with_a_client_id_and_every_registered_field(self, demo: Issuer):
        """AS-44, RFC 7591 §3.2.1: client_id, client_id_issued_at, and all the metadata as registered."""
        metadata = {
            **PUBLIC_CLIENT,
            "client_uri": "https://client.example/",
            "logo_uri": "https://client.example/logo.png",
            "scope": "mcp:read mcp:write",
            "contacts": ["ops@client.example"],
            "tos_uri": "https://client.example/tos",
            "policy_uri": "https://client.example/policy",
            "software_id": "4NRB1-0XZABZI9E6-5SM3R",
            "software_version": "2.1",
            "application_type": "native",
        }
        before = int(time.time())

        response = demo.http.post(demo.registration_endpoint, json=metadata)

        assert response.status_code == 201
        assert response.headers["cache-control"] == "no-store"
        info = response.json()
        assert before <= info.pop("client_id_issued_at") <= time.time()
        client_id = info.pop("client_id")
        assert isinstance(client_id, str)
        assert info.pop("registration_client_uri") == f"{demo.url.split('/mcp/')[0]}/register/{client_id}"
        assert len(info.pop("registration_access_token")) >= 43
        assert info == metadata

    def test_omitted_fields_are_answered_with_the_defaults_they_got(self, demo: Issuer):
        """AS-46, RFC 7591 §2: client_secret_basic, [authorization_code] and [code] when left out."""
        response = demo.http.post(demo.registration_endpoint, json={"redirect_uris": [CALLBACK]})

        assert response.status_code == 201
        info = response.json()
        assert {name: info[name] for name in ("token_endpoint_auth_method", "grant_types", "response_types")} == {
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        }

    def test_a_scope_the_server_does_not_offer_is_left_out_of_what_is_registered(self, demo: Issuer):
        """RFC 7591 §2: the server may register another scope than asked for, and says which one."""
        client = demo.register(scope="mcp:read calendar:write")

        assert client.info["scope"] == "mcp:read"

    @pytest.mark.parametrize(
        "path",
        ["/register", "/api/v1/authz/clients/register", "/api/v1/authz/clients/register/mcp/demo/latest"],
    )
    def test_each_registration_endpoint_registers_a_client(
        self, demo_as: AuthorizationServer, http: httpx2.Client, path: str
    ):
        """RFC 7591 §3, seed 000: the root, the generic API and the MCP-scoped endpoints all answer 201."""
        response = http.post(demo_as.url + path, json=PUBLIC_CLIENT)

        assert response.status_code == 201
        assert response.json()["redirect_uris"] == [CALLBACK]

    def test_a_generated_client_id_is_never_an_https_url(self, demo: Issuer):
        """AS-48, CIMD §6: issued ids cannot collide with client ID metadata document URLs."""
        client_ids = [demo.register().client_id for _ in range(5)]

        assert all(re.fullmatch(r"[A-Za-z0-9_-]{16,}", client_id) for client_id in client_ids), client_ids
        assert len(set(client_ids)) == 5


class TestConfidentialClients:
    def test_a_client_secret_basic_client_gets_a_secret_that_never_expires(self, demo: Issuer):
        """AS-44, RFC 7591 §3.2.1: client_secret, and client_secret_expires_at 0 for never."""
        client = demo.register(token_endpoint_auth_method="client_secret_basic")

        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", client.client_secret or ""), client.info
        assert client.info["client_secret_expires_at"] == 0

    def test_a_public_client_gets_no_secret(self, demo: Issuer):
        """RFC 7591 §3.2.1: client_secret only for clients that authenticate with one."""
        client = demo.register(token_endpoint_auth_method="none")

        assert "client_secret" not in client.info
        assert "client_secret_expires_at" not in client.info

    @pytest.mark.sqlite_only("reads the bytes of the SQLite file and its WAL on disk")
    def test_the_secret_is_stored_only_as_a_digest(self, demo_as: AuthorizationServer, demo: Issuer):
        """DESIGN security defaults: the database holds SHA-256(secret), never the secret itself."""
        client = demo.register(token_endpoint_auth_method="client_secret_post")
        assert client.client_secret is not None

        [row] = rows(demo_as.db, "SELECT client_secret_hash FROM clients WHERE client_id = ?", client.client_id)
        stored = b"".join(path.read_bytes() for path in demo_as.db.parent.glob(demo_as.db.name + "*"))

        assert row["client_secret_hash"] == hashlib.sha256(client.client_secret.encode()).hexdigest()
        assert client.client_secret.encode() not in stored


class TestMcpScopedRegistration:
    def test_it_creates_the_client_a_registered_journey_and_the_mcp_flow_linking_them(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """Seed 000: one client, one journey in 'registered', one MCP flow (with the path's version), one event."""
        before = time.time()
        response = demo.http.post(
            f"{demo_as.url}/api/v1/authz/clients/register/mcp/demo/2025-11-25", json=PUBLIC_CLIENT
        )
        client_id = response.json()["client_id"]

        [client] = rows(demo_as.db, "SELECT issuer FROM clients WHERE client_id = ?", client_id)
        [flow] = rows(demo_as.db, "SELECT * FROM mcp_authorization_flows WHERE client_id = ?", client_id)
        [journey] = rows(demo_as.db, "SELECT * FROM authorization_journeys WHERE id = ?", flow["journey_id"])
        events = rows(demo_as.db, "SELECT step, at FROM journey_events WHERE journey_id = ?", journey["id"])
        assert client["issuer"] == demo.url
        assert (flow["mcp_server_id"], flow["mcp_server_version"]) == ("demo", "2025-11-25")
        assert (journey["status"], journey["issuer"]) == ("registered", demo.url)
        assert before <= timestamp(journey["created_at"]) == timestamp(journey["updated_at"]) <= time.time()
        assert flow["created_at"] == journey["created_at"]
        assert [(event["step"], event["at"] >= journey["created_at"]) for event in events] == [("registered", True)]

    def test_an_unknown_mcp_server_id_is_a_404_naming_it_and_writes_nothing(
        self, demo_as: AuthorizationServer, http: httpx2.Client
    ):
        """Seed 000: the MCP server must exist; a refused registration leaves no rows behind."""
        before = row_counts(demo_as.db)

        response = http.post(f"{demo_as.url}/api/v1/authz/clients/register/mcp/ghost/latest", json=PUBLIC_CLIENT)

        assert response.status_code == 404
        assert response.json() == {
            "error": "not_found",
            "error_description": "no MCP server with id 'ghost' is registered here",
        }
        assert row_counts(demo_as.db) == before

    def test_invalid_metadata_writes_nothing(self, demo_as: AuthorizationServer, demo: Issuer):
        """RFC 7591 §3.2.2: a refused registration creates no client, journey or flow."""
        before = row_counts(demo_as.db)

        response = demo.http.post(demo.registration_endpoint, json={**PUBLIC_CLIENT, "grant_types": ["implicit"]})

        assert response.status_code == 400
        assert row_counts(demo_as.db) == before

    def test_a_root_registration_starts_no_journey(self, demo_as: AuthorizationServer, root: Issuer):
        """Seed 000: journeys start at MCP registration; a generic client gets one at /authorize."""
        client = root.register()

        assert rows(demo_as.db, "SELECT * FROM mcp_authorization_flows WHERE client_id = ?", client.client_id) == []


class TestRedirectUriRules:
    @pytest.mark.parametrize(
        "uri",
        [
            "javascript:alert(document.cookie)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "http://evil.example/cb",
            "http://localhost.evil.example/cb",
            "https://client.example/cb#fragment",
            "com.example.app:/oauth2redirect",
            "/relative/callback",
            "https://[not-an-address]/cb",
        ],
    )
    def test_a_redirect_uri_that_is_neither_https_nor_loopback_http_is_refused(self, demo: Issuer, uri: str):
        """AS-16, AS-45, USER-NEEDS theme 6: invalid_redirect_uri, never a 500."""
        response = demo.http.post(demo.registration_endpoint, json={**PUBLIC_CLIENT, "redirect_uris": [uri]})

        assert response.status_code == 400
        assert response.json()["error"] == "invalid_redirect_uri"

    @pytest.mark.parametrize(
        "uri",
        [
            "http://127.0.0.1/callback",
            "http://localhost:8080/callback",
            "http://[::1]:33418/callback",
            "https://client.example/oauth/callback",
        ],
    )
    def test_https_and_loopback_http_redirect_uris_are_accepted(self, demo: Issuer, uri: str):
        """AS-16, OAuth 2.1 §2.3.1, RFC 8252 §7.3: https, or http on 127.0.0.1, localhost or [::1]."""
        client = demo.register(redirect_uris=[uri])

        assert client.info["redirect_uris"] == [uri]


class TestInvalidMetadata:
    @pytest.mark.parametrize(
        ("fields", "error"),
        [
            ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
            ({"grant_types": ["password", JWT_BEARER]}, "invalid_client_metadata"),
            ({"grant_types": ["refresh_token", JWT_BEARER]}, "invalid_client_metadata"),
            ({METHOD: "client_secret_jwt", CHOICES: ["tls_client_auth"]}, "invalid_client_metadata"),
            ({"response_types": ["token"]}, "invalid_client_metadata"),
            ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
            ({"client_name": 5}, "invalid_client_metadata"),
            ({"grant_types": [1]}, "invalid_client_metadata"),
            ({"redirect_uris": "x"}, "invalid_redirect_uri"),
            ({"redirect_uris": []}, "invalid_redirect_uri"),
        ],
    )
    def test_unsupported_or_wrongly_typed_metadata_is_refused_with_its_error(
        self, demo: Issuer, fields: dict[str, Any], error: str
    ):
        """AS-45, RFC 7591 §3.2.2: 400 with the registration error that names the problem."""
        response = demo.http.post(demo.registration_endpoint, json={**PUBLIC_CLIENT, **fields})

        assert response.status_code == 400
        assert response.json()["error"] == error

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            (b'{"redirect_uris": [', "application/json"),
            (b"[]", "application/json"),
            (b'"a string"', "application/json"),
            (b"\xff\xfe{}", "application/json"),
            (b"", "application/json"),
            (b"[" * 5000, "application/json"),
            (b"redirect_uris=http%3A%2F%2F127.0.0.1%2Fcb", "application/x-www-form-urlencoded"),
            (b'{"redirect_uris": ["http://127.0.0.1/cb"]}', "text/plain"),
        ],
    )
    def test_a_body_that_is_not_a_json_object_is_refused_without_a_server_error(
        self, demo: Issuer, body: bytes, content_type: str
    ):
        """AS-43, RFC 7591 §3.1: the request is a JSON object; anything else is a 400, never a 500."""
        response = demo.http.post(demo.registration_endpoint, content=body, headers={"content-type": content_type})

        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client_metadata"

    @pytest.mark.parametrize(
        ("redirect_uris", "description"),
        [
            (
                [f"http://127.0.0.1/cb{n}" for n in range(11)],
                "at most 10 redirect URIs may be registered",
            ),
            (
                ["https://app.example/" + "a" * 1981],
                "redirect URI 'https://app.example/" + "a" * 60 + "...' is not allowed: longer than 2000 characters",
            ),
        ],
        ids=["11 URIs", "2001 characters"],
    )
    def test_too_many_or_too_long_redirect_uris_are_refused(
        self, demo: Issuer, redirect_uris: list[str], description: str
    ):
        """USER-NEEDS theme 4 (stormkit PR #359): at most 10 redirect URIs, each at most 2000 characters."""
        response = demo.http.post(demo.registration_endpoint, json={**PUBLIC_CLIENT, "redirect_uris": redirect_uris})

        assert response.status_code == 400
        assert response.json() == {"error": "invalid_redirect_uri", "error_description": description}

    def test_an_oversized_body_is_refused_with_413(self, demo: Issuer):
        """USER-NEEDS theme 4: registration bodies are capped (16 KiB by default)."""
        metadata = {**PUBLIC_CLIENT, "client_name": "x" * 20_000}

        response = demo.http.post(demo.registration_endpoint, json=metadata)

        assert response.status_code == 413
        assert response.json()["error"] == "invalid_request"


class TestWhatWidelyUsedClientsSend:
    """Issue 15, real clients: registrations as MCP clients in use send them are not refused for what
    they add; the server registers what it can and answers with what it registered (RFC 7591 §3.2.1)."""

    def test_a_grant_type_the_server_does_not_offer_is_left_out_and_the_answer_says_so(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """Issue 15, RFC 7591 §2 and §3.2.1: a desktop client lists the jwt-bearer grant beside the code
        and refresh grants; it is registered with the two this server offers, and told so."""
        client = demo.register(grant_types=["authorization_code", "refresh_token", JWT_BEARER])

        [stored] = rows(demo_as.db, "SELECT metadata FROM clients WHERE client_id = ?", client.client_id)
        assert client.info["grant_types"] == ["authorization_code", "refresh_token"]
        assert json.loads(stored["metadata"])["grant_types"] == ["authorization_code", "refresh_token"]
        assert demo.tokens(client)["refresh_token"]

    def test_client_credentials_is_still_refused_beside_a_grant_the_server_does_not_offer(self, demo: Issuer):
        """Issue 15 keeps issue 11 item 1: the subset rule is for grants the server does not offer;
        client_credentials it offers, to the operator's clients only, so asking for it is refused."""
        response = demo.http.post(
            demo.registration_endpoint,
            json={
                **PUBLIC_CLIENT,
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code", "client_credentials", JWT_BEARER],
            },
        )

        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client_metadata"
        assert "client_credentials" in response.json()["error_description"]

    @pytest.mark.parametrize(
        ("fields", "registered"),
        [
            ({CHOICES: ["client_secret_jwt", "none"]}, "none"),
            ({CHOICES: ["private_key_jwt", "client_secret_post"]}, "client_secret_post"),
            (
                {METHOD: "client_secret_jwt", CHOICES: ["none"]},
                "none",
            ),
            (
                {METHOD: "none", CHOICES: ["client_secret_basic"]},
                "none",
            ),
        ],
        ids=["first supported choice", "private_key_jwt without keys skipped", "unsupported method", "method first"],
    )
    def test_a_choice_of_auth_methods_registers_one_the_server_supports(
        self, demo: Issuer, fields: dict[str, Any], registered: str
    ):
        """Issue 15, OpenID Connect RP Metadata Choices 1.0 §2 and Implementation Considerations: the
        client's own method if supported, else the first of its choices the server supports; the answer
        names the one registered."""
        metadata = {name: value for name, value in PUBLIC_CLIENT.items() if name != "token_endpoint_auth_method"}

        response = demo.http.post(demo.registration_endpoint, json={**metadata, **fields})

        assert response.status_code == 201, response.text
        assert response.json()["token_endpoint_auth_method"] == registered

    def test_unknown_fields_are_ignored(self, demo: Issuer):
        """Issue 15, RFC 7591 §2: "the authorization server MUST ignore any client metadata sent by the
        client that it does not understand"."""
        response = demo.http.post(
            demo.registration_endpoint,
            json={**PUBLIC_CLIENT, "dpop_bound_access_tokens": False, "x-vendor": {"build": 7}, "client_kind": "cli"},
        )

        assert response.status_code == 201, response.text
        assert "x-vendor" not in response.json()


class TestApplicationType:
    @pytest.mark.parametrize("application_type", ["native", "web"])
    def test_the_application_type_is_recorded_with_the_client(
        self, demo_as: AuthorizationServer, demo: Issuer, application_type: str
    ):
        """AS-47, MCP-R Application Type: the type the client sends is kept and answered as registered."""
        client = demo.register(application_type=application_type)

        [stored] = rows(demo_as.db, "SELECT metadata FROM clients WHERE client_id = ?", client.client_id)
        assert client.info["application_type"] == application_type
        assert json.loads(stored["metadata"])["application_type"] == application_type

    def test_an_unknown_application_type_is_refused_saying_which_are_known(self, demo: Issuer):
        """AS-47, OIDC Registration §2: application_type is native or web; the rejection says so."""
        response = demo.http.post(demo.registration_endpoint, json={**PUBLIC_CLIENT, "application_type": "desktop"})

        assert (response.status_code, response.json()) == (
            400,
            {"error": "invalid_client_metadata", "error_description": "application_type must be 'native' or 'web'"},
        )


def test_rfc_7591_3_2_1_a_client_id_never_begins_with_a_dash_so_the_command_line_takes_it():
    """RFC 7591 §3.2.1 leaves the id's form to the server: ours never reads as an option.

    A 24-character base64url id began with ``-`` once in 64 before, and ``clients delete -Abc...``
    then failed with "the following arguments are required" (CI, 2026-12-03). 2,000 draws meet a
    leading dash with a chance of 1 - (63/64)**2000, which is 1 within rounding.
    """
    ids = [new_client_id() for _ in range(2000)]
    assert not [client_id for client_id in ids if client_id.startswith("-")]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", client_id) for client_id in ids)
