"""The client credentials grant for machine clients (OAuth 2.1 §4.2, docs/decisions/0018).

The grant is for resources "previously arranged with the authorization server" (RFC 6749 §4.4):
only clients the operator added or approved from the command line get it (``clients add --grant
client_credentials``, ``clients approve``), for the MCP servers and scopes approved; registration
(RFC 7591, RFC 7592) refuses it and a client ID metadata document cannot give it itself (issue 11
item 1). An approved client gets an access token for itself: ``sub`` is its client_id and
``"machine": true`` says no user is behind it, the audience is the MCP server the ``resource``
names (RFC 8707), the scope lies within what was approved, and there is no refresh token
(§4.2.3). One client's tokens for one MCP server form one Authorization Journey.
"""

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mcp_authz.authorization_server.settings import DEMO_ADMIN
from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import Issuer, Registered, claims, journey_of, rows, steps
from tests.authorization_server.test_private_key_jwt import Signer, redeem, with_assertion
from tests.documents import Answer, DocumentServer, client_document, document_client

#: A machine client as it would register itself: no redirect URI, no browser, a secret.
MACHINE_CLIENT: dict[str, Any] = {
    "client_name": "Nightly report job",
    "grant_types": ["client_credentials"],
    "token_endpoint_auth_method": "client_secret_basic",
}


def add_machine(
    server: AuthorizationServer,
    *mcp_servers: str,
    method: str = "client_secret_basic",
    jwks_file: Path | None = None,
    name: str = "Nightly report job",
) -> Registered:
    """``clients add --grant client_credentials``: the operator adds a machine client for ``mcp_servers``."""
    options = ["--auth-method", method, *(["--jwks-file", str(jwks_file)] if jwks_file else [])]
    for mcp_server in mcp_servers or ("demo",):
        options += ["--mcp-server", mcp_server]
    printed = server.cli(
        "clients", "add", "--name", name, "--grant", "client_credentials", *options, "--issuer", server.url
    ).stdout
    values = dict(line.split()[:2] for line in printed.splitlines()[1:] if line.startswith("  client_"))
    return Registered(
        {
            "client_id": values["client_id"],
            "client_secret": values.get("client_secret"),
            "token_endpoint_auth_method": method,
        }
    )


def jwks_file(tmp_path: Path, signer: Signer) -> Path:
    path = tmp_path / f"{signer.kid}.jwks.json"
    path.write_text(json.dumps(signer.jwks))
    return path


def token_for(issuer: Issuer, client: Registered, **form: str | None) -> httpx2.Response:
    """POST /token with grant_type=client_credentials, authenticating as the client registered."""
    return issuer._as_client(client, {"grant_type": "client_credentials", "resource": issuer.resource, **form})


def error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


class TestRegistration:
    @pytest.mark.parametrize(
        "endpoint", ["/register", "/api/v1/authz/clients/register", "/api/v1/authz/clients/register/mcp/demo/latest"]
    )
    def test_no_registration_endpoint_gives_the_grant(self, demo_as: AuthorizationServer, demo: Issuer, endpoint: str):
        """Issue 11 item 1 (reproduction), RFC 6749 §4.4, OAuth 2.1 §4.2: a self-registered client_credentials
        client is 400 invalid_client_metadata at every registration endpoint, with a secret or not."""
        response = demo.http.post(demo_as.url + endpoint, json=MACHINE_CLIENT)
        alongside = demo.http.post(
            demo_as.url + endpoint,
            json={
                **MACHINE_CLIENT,
                "grant_types": ["authorization_code", "client_credentials"],
                "redirect_uris": ["http://127.0.0.1:8888/callback"],
            },
        )

        assert error_of(response) == (400, "invalid_client_metadata")
        assert "operator" in response.json()["error_description"]
        assert error_of(alongside) == (400, "invalid_client_metadata")

    def test_an_rfc7592_update_cannot_add_the_grant(self, demo: Issuer):
        """Issue 11 item 1, RFC 7592 §2.2: an update is validated as a registration; client_credentials is refused."""
        client = demo.register(token_endpoint_auth_method="client_secret_basic")
        update = {
            key: value
            for key, value in client.info.items()
            if key not in ("registration_access_token", "registration_client_uri", "client_id_issued_at")
            and key not in ("client_secret_expires_at",)
        }
        update["grant_types"] = [*client.info["grant_types"], "client_credentials"]

        response = demo.http.put(
            client.info["registration_client_uri"],
            json=update,
            headers={"Authorization": f"Bearer {client.info['registration_access_token']}"},
        )

        assert error_of(response) == (400, "invalid_client_metadata")
        assert error_of(token_for(demo, client)) == (400, "unauthorized_client")

    def test_the_operator_adds_a_machine_client_without_redirect_uris(self, demo_as: AuthorizationServer):
        """OAuth 2.1 §4.2, RFC 7591 §2.1: client_credentials alone needs no redirect URI; `clients list` shows
        the approval."""
        client = add_machine(demo_as, "demo:mcp:read")

        listed = demo_as.cli("clients", "list").stdout

        assert client.client_secret
        block = listed[listed.index(client.client_id) :].split("\n")[:6]
        assert "    client_secret_basic, grants client_credentials" in block
        assert "    client_credentials for demo: mcp:read" in block

    def test_a_public_client_cannot_register_client_credentials(self, demo: Issuer):
        """OAuth 2.1 §4.2: only confidential clients may use the grant."""
        response = demo.http.post(
            demo.registration_endpoint, json={**MACHINE_CLIENT, "token_endpoint_auth_method": "none"}
        )

        assert error_of(response) == (400, "invalid_client_metadata")

    def test_the_grant_is_advertised(self, demo: Issuer):
        """RFC 8414 §2: grant_types_supported names client_credentials (for the clients the operator approves)."""
        url = demo.url.replace("/mcp/demo", "/.well-known/oauth-authorization-server/mcp/demo")

        assert "client_credentials" in demo.http.get(url).json()["grant_types_supported"]

    def test_the_command_line_refuses_unknown_servers_and_scopes(self, demo_as: AuthorizationServer):
        """Issue 11 item 1: an approval names an MCP server registered here and scopes it offers."""
        unknown = demo_as.cli("clients", "add", "--name", "x", "--grant", "client_credentials",
                              "--mcp-server", "nowhere", check=False)  # fmt: skip
        scope = demo_as.cli("clients", "add", "--name", "x", "--grant", "client_credentials",
                            "--mcp-server", "demo:mcp:admin", check=False)  # fmt: skip
        without = demo_as.cli("clients", "add", "--name", "x", "--grant", "client_credentials", check=False)

        assert [unknown.returncode, scope.returncode, without.returncode] == [1, 1, 1]
        assert "no MCP server with id 'nowhere'" in unknown.stderr
        assert "mcp:admin" in scope.stderr
        assert "--mcp-server" in without.stderr


class TestMetadataDocument:
    def test_a_document_cannot_give_itself_the_grant(self, demo: Issuer, documents: DocumentServer):
        """Issue 11 item 1 (reproduction), RFC 6749 §4.4, CIMD: a document with client_credentials and
        private_key_jwt is unauthorized_client for the grant; the document still works for authorization_code."""
        signer = Signer.new()
        path = f"/machine/{signer.kid}.json"
        url = documents.url(path)
        document = client_document(
            url,
            grant_types=["authorization_code", "client_credentials"],
            token_endpoint_auth_method="private_key_jwt",
            jwks=signer.jwks,
        )
        documents.serve(path, Answer.json(document))

        refused = demo.post_token(
            {
                "grant_type": "client_credentials",
                "resource": demo.resource,
                **with_assertion(signer.assertion(url, demo.token_endpoint), url),
            }
        )
        redeemed = redeem(demo, document_client(url), signer)

        assert error_of(refused) == (400, "unauthorized_client")
        assert redeemed.status_code == 200, redeemed.text
        assert "machine" not in claims(redeemed.json()["access_token"])

    def test_a_document_with_only_client_credentials_is_refused_too(self, root: Issuer, documents: DocumentServer):
        """Issue 11 item 1: the grant is ignored at every issuer, the root one included."""
        signer = Signer.new()
        path = f"/machine-only/{signer.kid}.json"
        url = documents.url(path)
        document = client_document(
            url, grant_types=["client_credentials"], response_types=None,
            token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks,
        )  # fmt: skip
        documents.serve(path, Answer.json(document))

        refused = root.post_token(
            {
                "grant_type": "client_credentials",
                "resource": None,
                **with_assertion(signer.assertion(url, root.token_endpoint), url),
            }
        )

        assert error_of(refused) == (400, "unauthorized_client")


class TestToken:
    @pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
    def test_a_machine_client_gets_a_jwt_for_itself_and_no_refresh_token(
        self, demo_as: AuthorizationServer, demo: Issuer, method: str
    ):
        """OAuth 2.1 §4.2.2, §4.2.3: an access token, sub = client_id, aud = the MCP server, no refresh token;
        issue 11 item 1: it carries "machine": true."""
        client = add_machine(demo_as, "demo:mcp:read", method=method)

        response = token_for(demo, client)

        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert sorted(body) == ["access_token", "expires_in", "scope", "token_type"]
        token = claims(body["access_token"])
        assert (token["sub"], token["client_id"], token["aud"]) == (client.client_id, client.client_id, demo.resource)
        assert (body["scope"], token["scope"], token["machine"]) == ("mcp:read", "mcp:read", True)

    def test_a_user_s_token_carries_no_machine_claim(self, demo: Issuer):
        """Issue 11 item 1, RFC 9068 §2.2: only client_credentials tokens are marked."""
        client = demo.register()

        token = claims(demo.exchange(client, demo.code(client)).json()["access_token"])

        assert "machine" not in token and token["sub"] != client.client_id

    def test_a_private_key_jwt_machine_client_gets_a_token(
        self, demo_as: AuthorizationServer, demo: Issuer, tmp_path: Path
    ):
        """OAuth 2.1 §4.2, RFC 7523 §2.2: the grant works with private_key_jwt, keys given with --jwks-file."""
        signer = Signer.new()
        client = add_machine(demo_as, "demo", method="private_key_jwt", jwks_file=jwks_file(tmp_path, signer))
        assertion = signer.assertion(client.client_id, demo.token_endpoint)

        response = demo.post_token(
            {"grant_type": "client_credentials", "resource": demo.resource, **with_assertion(assertion)}
        )

        assert response.status_code == 200, response.text
        assert claims(response.json()["access_token"])["sub"] == client.client_id

    def test_the_scope_is_what_was_asked_within_what_was_approved(self, demo_as: AuthorizationServer, demo: Issuer):
        """Issue 11 item 1, RFC 6749 §3.3, OAuth 2.1 §3.2.2.1: the intersection of the asked and approved scopes;
        nothing left, or a scope the MCP server does not offer, is invalid_scope; no scope gets every approved one."""
        reader = add_machine(demo_as, "demo:mcp:read")
        writer = add_machine(demo_as, "demo:mcp:read,mcp:write")

        assert token_for(demo, reader, scope="mcp:read mcp:write").json()["scope"] == "mcp:read"
        assert error_of(token_for(demo, reader, scope="mcp:write")) == (400, "invalid_scope")
        assert error_of(token_for(demo, reader, scope="mcp:admin")) == (400, "invalid_scope")
        assert token_for(demo, writer).json()["scope"] == "mcp:read mcp:write"
        assert token_for(demo, writer, scope="mcp:write").json()["scope"] == "mcp:write"

    def test_only_approved_mcp_servers(self, demo_as: AuthorizationServer, root: Issuer, other: Issuer):
        """Issue 11 item 1, RFC 8707 §2: at the root issuer, an MCP server the client is not approved for is
        invalid_target; approved ones are the audience."""
        client = add_machine(demo_as, "demo", "other:files:read")

        demo_token = claims(token_for(root, client, resource=None).json()["access_token"])
        other_token = claims(token_for(root, client, resource=other.resource).json()["access_token"])
        only_demo = add_machine(demo_as, "demo:mcp:read", "demo:mcp:read")  # the same server twice: one approval

        assert (demo_token["aud"], demo_token["scope"]) == (root_resource(demo_as), "mcp:read")
        assert (other_token["aud"], other_token["scope"]) == (other.resource, "files:read")
        unknown = token_for(root, client, resource="https://unknown.example/mcp")
        assert error_of(unknown) == (400, "invalid_target")
        assert error_of(token_for(root, only_demo, resource=other.resource)) == (400, "invalid_target")

    def test_the_resource_must_be_the_issuer_s_mcp_server(
        self, demo_as: AuthorizationServer, demo: Issuer, other: Issuer
    ):
        """AS-36, RFC 8707 §2: another MCP server's resource is invalid_target."""
        client = add_machine(demo_as, "demo")

        assert error_of(token_for(demo, client, resource=other.resource)) == (400, "invalid_target")

    def test_a_client_the_operator_did_not_approve_is_unauthorized_client(self, demo: Issuer):
        """OAuth 2.1 §3.2.4, RFC 6749 §5.2: a confidential client registered for authorization_code is refused."""
        client = demo.register(token_endpoint_auth_method="client_secret_basic")

        assert error_of(token_for(demo, client)) == (400, "unauthorized_client")

    def test_approve_and_withdraw_an_existing_client(self, demo_as: AuthorizationServer, demo: Issuer, other: Issuer):
        """Issue 11 item 1, RFC 6749 §4.4: `clients approve` lets a registered client use the grant at the MCP
        servers named, `clients withdraw` takes it back and ends its machine grant."""
        client = demo.register(token_endpoint_auth_method="client_secret_basic")
        before = token_for(demo, client)

        other = demo_as.cli("clients", "approve", client.client_id, "--mcp-server", "other", "--issuer", demo_as.url,
                            check=False)  # fmt: skip
        demo_as.cli("clients", "approve", client.client_id, "--mcp-server", "demo:mcp:read", "--issuer", demo_as.url)
        approved = token_for(demo, client)
        withdrawn = demo_as.cli("clients", "withdraw", client.client_id).stdout
        after = token_for(demo, client)

        assert error_of(before) == (400, "unauthorized_client")
        assert other.returncode == 1 and "issues no tokens for 'other'" in other.stderr
        assert approved.status_code == 200 and claims(approved.json()["access_token"])["machine"] is True
        assert "for demo; ended 1 grant(s)" in withdrawn
        assert error_of(after) == (400, "unauthorized_client")
        machine = rows(
            demo_as.db,
            "SELECT j.status FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
            " WHERE f.client_id = ? AND j.user_id IS NULL AND j.status != 'registered'",
            client.client_id,
        )
        assert [row["status"] for row in machine] == ["revoked"]

    def test_a_wrong_secret_is_401_invalid_client(self, demo_as: AuthorizationServer, demo: Issuer):
        """OAuth 2.1 §3.2.4: client authentication is required."""
        client = add_machine(demo_as, "demo")
        forged = Registered({**client.info, "client_secret": "not-the-secret"})

        response = token_for(demo, forged)

        assert error_of(response) == (401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic ")

    def test_offline_access_gets_no_refresh_token(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-38, OAuth 2.1 §4.2.3, decision 0018: a machine client asks again instead of refreshing."""
        client = add_machine(demo_as, "demo")

        body = token_for(demo, client, scope="mcp:read offline_access").json()

        assert "refresh_token" not in body
        assert body["scope"] == "mcp:read"

    def test_introspection_says_machine(self, demo_as: AuthorizationServer, demo: Issuer, demo_secret: str):
        """Issue 11 item 1, RFC 7662 §2.2: the introspection response carries the machine marker too."""
        client = add_machine(demo_as, "demo")
        token = token_for(demo, client).json()["access_token"]

        answer = demo.post_form(demo.url + "/introspect", {"token": token}, auth=("demo", demo_secret)).json()

        assert (answer["active"], answer["machine"], answer["sub"]) == (True, True, client.client_id)


def root_resource(server: AuthorizationServer) -> str:
    """The demo MCP server's resource: the default audience at the root issuer."""
    return rows(server.db, "SELECT resource FROM mcp_servers WHERE id = 'demo'")[0]["resource"]


class TestJourney:
    def test_tokens_continue_one_journey(self, demo_as: AuthorizationServer, demo: Issuer):
        """Issue 4, decision 0018: one journey per client and MCP server, active from the first token."""
        client = add_machine(demo_as, "demo")

        token_for(demo, client)
        token_for(demo, client)

        journey = journey_of(demo_as.db, client.client_id)
        assert (journey["status"], journey["user_id"]) == ("active", None)
        assert steps(demo_as.db, journey["id"]) == ["client_credentials_granted", "client_credentials_granted"]

    def test_an_approved_mcp_registration_continues_its_registration_s_journey(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """Issue 4, decision 0018: a client registered at the MCP endpoint, then approved, continues that journey."""
        client = demo.register(token_endpoint_auth_method="client_secret_basic")
        demo_as.cli("clients", "approve", client.client_id, "--mcp-server", "demo", "--issuer", demo_as.url)

        token_for(demo, client)

        journey = journey_of(demo_as.db, client.client_id)
        assert steps(demo_as.db, journey["id"]) == ["registered", "client_credentials_granted"]

    def test_the_journey_is_shown_like_any_other(self, demo_as: AuthorizationServer, demo: Issuer):
        """Issue 4: the admin page draws a journey without a user, and `journeys show` prints it."""
        client = add_machine(demo_as, "demo")
        token_for(demo, client)
        journey_id = journey_of(demo_as.db, client.client_id)["id"]

        page = demo.http.get(f"{demo_as.url}/admin/journeys/{journey_id}", auth=DEMO_ADMIN)
        shown = demo_as.cli("journeys", "show", journey_id).stdout

        assert page.status_code == 200
        assert "client credentials for a token" in page.text
        assert "client_credentials_granted" in shown

    def test_revoking_a_token_ends_the_journey_and_the_next_token_starts_another(
        self, demo_as: AuthorizationServer, demo: Issuer, demo_secret: str
    ):
        """RFC 7009 §2, RFC 7662, decision 0018: revoking ends the grant and the token; the next token starts anew."""
        client = add_machine(demo_as, "demo")
        token = token_for(demo, client).json()["access_token"]

        assert demo.revoke(client, token).status_code == 200
        introspected = demo.post_form(demo.url + "/introspect", {"token": token}, auth=("demo", demo_secret)).json()
        assert introspected == {"active": False}
        token_for(demo, client)

        journeys = rows(
            demo_as.db,
            "SELECT j.status FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
            " WHERE f.client_id = ? ORDER BY j.created_at",
            client.client_id,
        )
        assert [row["status"] for row in journeys] == ["revoked", "active"]
