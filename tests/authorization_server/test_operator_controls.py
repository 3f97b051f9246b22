"""USER-NEEDS theme 15 ("admin can disable DCR", "block clients, revoke all"): the operator's two
controls over clients, each checked against a running authorization server (docs/decisions/0025).

- ``--dynamic-registration closed``: no issuer's metadata names a registration endpoint (RFC 8414
  §2), every registration path answers 403 ``access_denied`` (RFC 7591 §3.2.2 has no code for a
  closed server), and clients the operator pre-registered still complete a flow.
- ``clients block CLIENT_ID``: the client's grants end (as its RFC 7592 §2.3 deletion ends them), it
  gets 401 ``invalid_client`` at /token and /revoke (OAuth 2.1 §3.2.4, RFC 7009 §2.2.1), an error
  page at /authorize (OAuth 2.1 §4.1.2.1: never a redirect), and 401 ``invalid_token`` at its
  configuration endpoint (RFC 7592 §2); ``clients unblock`` lets it start again, without its grants.
"""

import argparse
from collections.abc import Iterator

import httpx2
import pytest

from mcp_authz.authorization_server.settings import load
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import CALLBACK, Issuer, Registered
from tests.authorization_server.test_cimd import assert_error_page
from tests.authorization_server.test_rfc7592_management import assert_invalid_token, manage
from tests.documents import DocumentServer, document_client

REGISTRATION_PATHS = ("/register", "/api/v1/authz/clients/register", "/api/v1/authz/clients/register/mcp/demo/latest")


@pytest.fixture(name="closed_as", scope="module")
def _closed_as(tmp_path_factory: pytest.TempPathFactory, mcp_port: int) -> Iterator[AuthorizationServer]:
    """A demo-mode server whose operator closed dynamic registration."""
    server = start_authorization_server(
        tmp_path_factory.mktemp("closed_as"), "--dynamic-registration", "closed", mcp_port=mcp_port
    )
    yield server
    server.program.stop()


def pre_registered(server: AuthorizationServer) -> Registered:
    """A confidential client added with ``clients add``, as the registration response would describe it."""
    printed = server.cli(
        "clients", "add", "--name", "Partner", "--redirect-uri", CALLBACK, "--issuer", server.url
    ).stdout
    values = dict(line.split()[:2] for line in printed.splitlines()[1:])
    return Registered(
        {
            "client_id": values["client_id"],
            "client_secret": values["client_secret"],
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "client_secret_basic",
        }
    )


class TestClosedRegistration:
    def test_the_environment_variable_takes_only_open_or_closed(self):
        """Decision 0025: a misspelt AS_DYNAMIC_REGISTRATION stops the server instead of leaving registration open."""
        assert load(argparse.Namespace(), {"AS_DYNAMIC_REGISTRATION": "closed"}).registration_open is False
        with pytest.raises(ValueError, match="dynamic_registration must be one of open, closed"):
            load(argparse.Namespace(), {"AS_DYNAMIC_REGISTRATION": "close"})

    def test_no_issuer_names_a_registration_endpoint(self, closed_as: AuthorizationServer, http: httpx2.Client):
        """Theme 15, RFC 8414 §2: registration_endpoint is OPTIONAL; a closed server names none, at every issuer."""
        for path in ("/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/mcp/demo"):
            metadata = http.get(closed_as.url + path).json()
            assert "registration_endpoint" not in metadata
            assert metadata["token_endpoint"].startswith(closed_as.url)

    @pytest.mark.parametrize("path", REGISTRATION_PATHS)
    def test_every_registration_path_answers_403_access_denied(
        self, closed_as: AuthorizationServer, http: httpx2.Client, path: str
    ):
        """Theme 15, RFC 7591 §3.2.2 (the error form): 403 access_denied, saying why, and no client is made."""
        response = http.post(
            closed_as.url + path, json={"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}
        )

        assert response.status_code == 403
        assert response.json()["error"] == "access_denied"
        assert "registration is closed" in response.json()["error_description"]
        assert "no clients yet" in closed_as.cli("clients", "list").stdout

    def test_a_pre_registered_client_still_completes_a_flow(self, closed_as: AuthorizationServer, http: httpx2.Client):
        """Theme 15, RFC 7591 §1 (clients registered by the operator): closing DCR leaves `clients add` working."""
        client = pre_registered(closed_as)
        root = Issuer(http, closed_as.url, closed_as.url + "/register")

        tokens = root.tokens(client)

        assert tokens["token_type"] == "Bearer"

    def test_a_metadata_document_client_still_completes_a_flow(
        self, closed_as: AuthorizationServer, http: httpx2.Client, documents: DocumentServer
    ):
        """Theme 15, CIMD §3: a client known by its metadata document never registers, so closing DCR leaves it be."""
        url = documents.publish("/closed/client.json")
        client = document_client(url)
        root = Issuer(http, closed_as.url, closed_as.url + "/register")

        response = root.exchange(client, root.code(client))

        assert response.status_code == 200, response.text


class TestBlockedClient:
    def test_blocking_ends_its_grants_and_refuses_it_everywhere(
        self, demo_as: AuthorizationServer, demo: Issuer, http: httpx2.Client
    ):
        """Theme 15: /token (OAuth 2.1 §3.2.4) and /revoke (RFC 7009 §2.2.1) answer 401 invalid_client,
        /authorize shows a page (§4.1.2.1), RFC 7592 §2 answers invalid_token; `clients list` says blocked."""
        client = demo.register()
        tokens = demo.tokens(client)
        unredeemed = demo.code(client)

        printed = demo_as.cli("clients", "block", client.client_id).stdout

        assert "ended 2 grant(s)" in printed
        for response in (demo.refresh(client, tokens["refresh_token"]), demo.revoke(client, tokens["refresh_token"])):
            assert response.status_code == 401
            assert response.json()["error"] == "invalid_client"
        redeemed = demo.exchange(client, unredeemed)
        assert (redeemed.status_code, redeemed.json()["error"]) == (401, "invalid_client")
        assert_error_page(demo.authorize(client), "blocked")
        assert_invalid_token(manage(http, "GET", client), demo_as)
        listed = [line for line in demo_as.cli("clients", "list").stdout.splitlines() if client.client_id in line]
        assert listed[0].endswith("BLOCKED")

    def test_unblocking_restores_use_but_not_its_grants(self, demo_as: AuthorizationServer, demo: Issuer):
        """Theme 15: after `clients unblock` the client authorizes and redeems again; the refresh token
        it held when blocked stays dead (invalid_grant, OAuth 2.1 §4.3), since blocking revoked it."""
        client = demo.register()
        old = demo.tokens(client)
        demo_as.cli("clients", "block", client.client_id)

        demo_as.cli("clients", "unblock", client.client_id)

        refreshed = demo.refresh(client, old["refresh_token"])
        assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")
        assert "access_token" in demo.tokens(client)

    def test_an_unknown_client_id_is_an_error(self, demo_as: AuthorizationServer):
        """The command says so and exits non-zero, rather than blocking nothing silently."""
        result = demo_as.cli("clients", "block", "no-such-client", check=False)

        assert result.returncode != 0
        assert "no client with id" in result.stderr
