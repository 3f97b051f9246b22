"""Client management (RFC 7592, checklist AS-50, docs/decisions/0017).

Every registration answers a ``registration_access_token`` and a ``registration_client_uri``;
with the token, the client reads (GET), replaces (PUT) and deletes (DELETE) its registration.
"""

import hashlib
from typing import Any

import httpx2
import pytest

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import PUBLIC_CLIENT, Issuer, Registered, rows

SERVER_ISSUED = [
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
]


#: ``manage``'s default: the client's own registration access token.
OWN = "own"


def manage(
    http: httpx2.Client, method: str, client: Registered, token: str | None = OWN, **options: Any
) -> httpx2.Response:
    """Send ``method`` to the client's configuration endpoint with its own token, another, or none."""
    token = client.info["registration_access_token"] if token == OWN else token
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return http.request(method, client.info["registration_client_uri"], headers=headers, **options)


def update_body(client: Registered, **changes: Any) -> dict[str, Any]:
    """The client's metadata as an RFC 7592 §2.2 update: every field, client_id, nothing server-issued."""
    body = {name: value for name, value in client.info.items() if name not in SERVER_ISSUED}
    body.pop("client_secret", None)
    return {**body, **changes}


def assert_invalid_token(response: httpx2.Response, demo_as: AuthorizationServer) -> None:
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"] == f'Bearer realm="{demo_as.url}", error="invalid_token"'


class TestRegistrationResponse:
    @pytest.mark.parametrize(
        "path", ["/register", "/api/v1/authz/clients/register", "/api/v1/authz/clients/register/mcp/demo/latest"]
    )
    def test_every_registration_path_answers_a_token_and_a_configuration_uri(
        self, demo_as: AuthorizationServer, http: httpx2.Client, path: str
    ):
        """AS-50, RFC 7592 §3: registration_access_token and registration_client_uri, on all three paths."""
        info = http.post(demo_as.url + path, json=PUBLIC_CLIENT).json()

        assert info["registration_client_uri"] == f"{demo_as.url}/register/{info['client_id']}"
        assert len(info["registration_access_token"]) >= 43

    @pytest.mark.sqlite_only("reads the bytes of the SQLite file and its WAL on disk")
    def test_the_token_is_stored_only_as_its_digest(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-50, secrets at rest: the database holds the SHA-256 of the registration access token."""
        client = demo.register()
        token = client.info["registration_access_token"]

        [row] = rows(demo_as.db, "SELECT registration_token_hash FROM clients WHERE client_id = ?", client.client_id)

        assert row["registration_token_hash"] == hashlib.sha256(token.encode()).hexdigest()
        assert token.encode() not in b"".join(p.read_bytes() for p in demo_as.db.parent.glob(demo_as.db.name + "*"))


class TestRead:
    def test_get_answers_the_current_metadata(self, demo: Issuer, http: httpx2.Client):
        """AS-50, RFC 7592 §2.1: 200 with the client information, never cached, without secrets."""
        client = demo.register(token_endpoint_auth_method="client_secret_basic")

        response = manage(http, "GET", client)

        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        expected = {
            name: value
            for name, value in client.info.items()
            if name not in ("registration_access_token", "client_secret")
        }
        assert response.json() == expected

    @pytest.mark.parametrize("token", [None, "wrong", "other"], ids=["no token", "wrong token", "another client's"])
    def test_a_missing_or_wrong_token_is_401_invalid_token(
        self, demo_as: AuthorizationServer, demo: Issuer, http: httpx2.Client, token: str | None
    ):
        """AS-50, RFC 7592 §2.1, RFC 6750 §3.1: 401 invalid_token with a Bearer challenge."""
        client = demo.register()
        if token == "other":
            token = demo.register().info["registration_access_token"]

        for method in ("GET", "PUT", "DELETE"):
            assert_invalid_token(manage(http, method, client, token, json=update_body(client)), demo_as)
        assert manage(http, "GET", client).status_code == 200

    def test_an_unknown_client_is_401_invalid_token(
        self, demo_as: AuthorizationServer, demo: Issuer, http: httpx2.Client
    ):
        """AS-50, RFC 7592 §2.1: an unknown client id gets the same answer as a wrong token."""
        client = demo.register()

        response = http.get(
            f"{demo_as.url}/register/no-such-client",
            headers={"Authorization": f"Bearer {client.info['registration_access_token']}"},
        )

        assert_invalid_token(response, demo_as)


class TestReplace:
    def test_put_replaces_the_metadata_whole(self, demo: Issuer, http: httpx2.Client):
        """AS-50, RFC 7592 §2.2: fields sent are set, fields left out are gone (or back to their default)."""
        client = demo.register(client_uri="https://client.example/", client_name="Before", scope="mcp:read")
        body = update_body(client, client_name="After")
        del body["client_uri"], body["scope"]

        response = manage(http, "PUT", client, json=body)

        assert response.status_code == 200
        info = response.json()
        assert info["client_name"] == "After"
        assert "client_uri" not in info and "scope" not in info
        assert manage(http, "GET", client).json() == info
        assert "registration_access_token" not in info

    def test_put_is_validated_as_a_registration(self, demo: Issuer, http: httpx2.Client):
        """AS-50, RFC 7592 §2.2 and RFC 7591 §3.2.2: a bad redirect URI is invalid_redirect_uri, and nothing changes."""
        client = demo.register()

        response = manage(http, "PUT", client, json=update_body(client, redirect_uris=["http://evil.example/cb"]))

        assert (response.status_code, response.json()["error"]) == (400, "invalid_redirect_uri")
        assert manage(http, "GET", client).json()["redirect_uris"] == client.info["redirect_uris"]

    @pytest.mark.parametrize("field", SERVER_ISSUED)
    def test_put_carrying_a_server_issued_field_is_400(self, demo: Issuer, http: httpx2.Client, field: str):
        """AS-50, RFC 7592 §2.2: registration_access_token, registration_client_uri, client_secret_expires_at
        and client_id_issued_at must not be sent."""
        client = demo.register()

        response = manage(http, "PUT", client, json=update_body(client, **{field: client.info.get(field, 0)}))

        assert (response.status_code, response.json()["error"]) == (400, "invalid_client_metadata")

    @pytest.mark.parametrize("client_id", [None, "another"], ids=["client_id missing", "another client_id"])
    def test_put_must_name_the_client_itself(self, demo: Issuer, http: httpx2.Client, client_id: str | None):
        """AS-50, RFC 7592 §2.2: client_id is required and must be the client's own."""
        client = demo.register()
        body = update_body(client, client_id=client_id)

        response = manage(http, "PUT", client, json=body)

        assert (response.status_code, response.json()["error"]) == (400, "invalid_client_metadata")

    def test_put_may_repeat_the_current_secret_but_not_choose_one(self, demo: Issuer, http: httpx2.Client):
        """AS-50, RFC 7592 §2.2: a client_secret must equal the current one; a client cannot set its own."""
        client = demo.register(token_endpoint_auth_method="client_secret_post")

        same = manage(http, "PUT", client, json=update_body(client, client_secret=client.client_secret))
        chosen = manage(http, "PUT", client, json=update_body(client, client_secret="my-own-secret"))

        assert same.status_code == 200
        assert (chosen.status_code, chosen.json()["error"]) == (400, "invalid_client_metadata")

    def test_put_cannot_change_the_authentication_method(self, demo: Issuer, http: httpx2.Client):
        """Decision 0017: a new method would need a new secret, or leave one behind: register anew."""
        client = demo.register()

        response = manage(
            http, "PUT", client, json=update_body(client, token_endpoint_auth_method="client_secret_basic")
        )

        assert (response.status_code, response.json()["error"]) == (400, "invalid_client_metadata")

    def test_dropping_the_refresh_token_grant_stops_refreshes(self, demo: Issuer, http: httpx2.Client):
        """RFC 7592 §2.2, OAuth 2.1 §4.3: the replaced grant_types apply from the next request."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]

        assert (
            manage(http, "PUT", client, json=update_body(client, grant_types=["authorization_code"])).status_code == 200
        )

        response = demo.refresh(client, refresh_token)
        assert (response.status_code, response.json()["error"]) == (400, "unauthorized_client")


class TestDelete:
    def test_delete_is_204_and_the_client_must_register_again(
        self, demo_as: AuthorizationServer, demo: Issuer, http: httpx2.Client
    ):
        """AS-50, RFC 7592 §2.3: 204; then the token is invalid_token and /token answers 401 invalid_client."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]

        response = manage(http, "DELETE", client)

        assert (response.status_code, response.content) == (204, b"")
        assert_invalid_token(manage(http, "GET", client), demo_as)
        refused = demo.refresh(client, refresh_token)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
        assert refused.headers["www-authenticate"].startswith("Basic ")

    def test_delete_removes_the_client_with_its_rows(
        self, demo_as: AuthorizationServer, demo: Issuer, http: httpx2.Client
    ):
        """RFC 7592 §2.3 ("invalidate... any tokens"): its grants, journeys and refresh tokens are gone."""
        client = demo.register()
        demo.tokens(client)

        manage(http, "DELETE", client)

        for table in ("clients", "mcp_authorization_flows", "refresh_tokens", "consents"):
            assert rows(demo_as.db, f"SELECT * FROM {table} WHERE client_id = ?", client.client_id) == []  # noqa: S608
