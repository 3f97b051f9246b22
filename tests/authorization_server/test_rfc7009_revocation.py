"""Token revocation (RFC 7009, checklist AS-58): the client ends its grant."""

import httpx2

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import Issuer, Registered, journey_of, steps


def error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


class TestRevokingARefreshToken:
    def test_it_answers_200_and_the_refresh_token_no_longer_works(self, demo: Issuer):
        """AS-58, RFC 7009 §2.2: 200, and the revoked refresh token is invalid_grant from then on."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]

        response = demo.revoke(client, refresh_token, token_type_hint="refresh_token")

        assert (response.status_code, response.content) == (200, b"")
        assert response.headers["cache-control"] == "no-store"
        assert error_of(demo.refresh(client, refresh_token)) == (400, "invalid_grant")

    def test_it_revokes_the_whole_family_and_ends_the_journey(self, demo_as: AuthorizationServer, demo: Issuer):
        """RFC 7009 §2: the grant ends: the live successor dies too, and the journey is revoked."""
        client = demo.register()
        old = demo.tokens(client)["refresh_token"]
        new = demo.refresh(client, old).json()["refresh_token"]

        demo.revoke(client, old)

        assert error_of(demo.refresh(client, new)) == (400, "invalid_grant")
        journey = journey_of(demo_as.db, client.client_id)
        assert journey["status"] == "revoked"
        assert steps(demo_as.db, journey["id"])[-2:] == ["token_refreshed", "revoked"]

    def test_revoking_twice_records_one_revocation(self, demo_as: AuthorizationServer, demo: Issuer):
        """RFC 7009 §2.2: revoking an already revoked token is 200 and changes nothing."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]
        demo.revoke(client, refresh_token)

        again = demo.revoke(client, refresh_token)

        assert again.status_code == 200
        assert steps(demo_as.db, journey_of(demo_as.db, client.client_id)["id"]).count("revoked") == 1


class TestRevokingAnAccessToken:
    def test_it_revokes_the_grant_it_was_issued_for(self, demo_as: AuthorizationServer, demo: Issuer):
        """RFC 7009 §2 (decision 0010): a JWT cannot die alone, so its grant and refresh tokens end."""
        client = demo.register()
        tokens = demo.tokens(client)

        response = demo.revoke(client, tokens["access_token"], token_type_hint="access_token")

        assert response.status_code == 200
        assert error_of(demo.refresh(client, tokens["refresh_token"])) == (400, "invalid_grant")
        assert journey_of(demo_as.db, client.client_id)["status"] == "revoked"

    def test_the_hint_does_not_limit_the_search(self, demo: Issuer):
        """RFC 7009 §2.1: a refresh token sent with hint access_token is still found and revoked."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]

        demo.revoke(client, refresh_token, token_type_hint="access_token")

        assert error_of(demo.refresh(client, refresh_token)) == (400, "invalid_grant")


class TestWhatIsNotRevoked:
    def test_an_unknown_token_is_200(self, demo: Issuer):
        """AS-58, RFC 7009 §2.2: an invalid token is answered 200 too."""
        client = demo.register()

        response = demo.revoke(client, "not-a-token-we-issued")

        assert (response.status_code, response.content) == (200, b"")

    def test_another_clients_token_is_200_and_stays_valid(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-58, RFC 7009 §2.1: the token must belong to the requesting client; else nothing happens."""
        owner, stranger = demo.register(), demo.register()
        refresh_token = demo.tokens(owner)["refresh_token"]

        response = demo.revoke(stranger, refresh_token)

        assert response.status_code == 200
        assert demo.refresh(owner, refresh_token).status_code == 200
        assert journey_of(demo_as.db, owner.client_id)["status"] == "active"

    def test_a_token_from_another_issuer_is_not_revoked_there(self, demo: Issuer, root: Issuer):
        """RFC 7009 §2.1: a client is bound to its issuer; the root issuer does not know a demo client."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]

        response = root.revoke(client, refresh_token)

        assert error_of(response) == (401, "invalid_client")
        assert demo.refresh(client, refresh_token).status_code == 200


class TestTheRequest:
    def test_an_unsupported_hint_is_unsupported_token_type(self, demo: Issuer):
        """AS-58, RFC 7009 §2.2.1: a hint naming a type this server does not revoke."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]

        response = demo.revoke(client, refresh_token, token_type_hint="id_token")

        assert error_of(response) == (400, "unsupported_token_type")
        assert demo.refresh(client, refresh_token).status_code == 200

    def test_a_missing_token_is_invalid_request(self, demo: Issuer):
        """RFC 7009 §2.1: token is REQUIRED."""
        client = demo.register()

        response = demo.post_form(demo.revocation_endpoint, {"client_id": client.client_id})

        assert error_of(response) == (400, "invalid_request")

    def test_an_unauthenticated_request_is_a_401_with_a_challenge(self, demo: Issuer):
        """RFC 7009 §2.1, §2.2.1: the client authenticates as at /token; without it, invalid_client."""
        response = demo.post_form(demo.revocation_endpoint, {"token": "anything"})

        assert error_of(response) == (401, "invalid_client")
        assert response.headers["www-authenticate"] == f'Basic realm="{demo.url}"'

    def test_a_confidential_client_with_a_wrong_secret_revokes_nothing(self, demo: Issuer):
        """RFC 7009 §2.1: a confidential client authenticates with its secret."""
        client = demo.register(token_endpoint_auth_method="client_secret_basic")
        refresh_token = demo.tokens(client)["refresh_token"]
        impostor = Registered({**client.info, "client_secret": "not-the-secret"})

        response = demo.revoke(impostor, refresh_token)

        assert error_of(response) == (401, "invalid_client")
        assert demo.refresh(client, refresh_token).status_code == 200

    def test_the_metadata_advertises_the_endpoint(self, demo: Issuer, root: Issuer):
        """RFC 8414 §2, RFC 7009 §2: each issuer names its revocation endpoint and its auth methods."""
        for issuer in (demo, root):
            suffix = issuer.url.removeprefix(root.url)
            document = issuer.http.get(f"{root.url}/.well-known/oauth-authorization-server{suffix}").json()

            assert document["revocation_endpoint"] == f"{issuer.url}/revoke"
            assert document["revocation_endpoint_auth_methods_supported"] == [
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ]
