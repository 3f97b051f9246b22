"""Machine clients of the reference client against this project's authorization server and MCP server.

``client.py --grant client_credentials`` (OAuth 2.1 §4.2, AS-32, CL-13) and ``private_key_jwt``
(RFC 7523 §2.2) run as users run them, against the demo stack (tests/conftest.py ``demo_as``,
``demo_mcp``): each machine client is added first by the operator (``clients add --grant
client_credentials --mcp-server demo``: the grant is never self-registered, issue 11 item 1), and
then named with ``--client-id``; the authorization-code client registers with an RFC 7591 POST.
"""

import secrets
from pathlib import Path
from typing import Any

import httpx2

from scripts.stack import AuthorizationServer, McpServer
from tests.authorization_server.flows import claims, journey_of, steps
from tests.authorization_server.test_client_credentials import add_machine, jwks_file
from tests.authorization_server.test_private_key_jwt import Signer
from tests.client.running import Run, edit_store, read_store, run_cli, run_client
from tests.client.test_machine_clients import write_key

CALLBACK_PORT = 8890
SEVEN_STEPS = ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]


def register(mcp: McpServer, **metadata: Any) -> dict[str, Any]:
    """RFC 7591 §3.1: POST the client's metadata to the registration endpoint the issuer's metadata names."""
    root, _, path = mcp.issuer.partition("/mcp/")
    registration_endpoint = httpx2.get(f"{root}/.well-known/oauth-authorization-server/mcp/{path}").json()[
        "registration_endpoint"
    ]
    body = {"client_name": f"Machine {secrets.token_hex(3)}", **metadata}
    response = httpx2.post(registration_endpoint, json=body)
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    return registered


def keyed(tmp_path: Path, alg: str = "ES256") -> tuple[Signer, Path]:
    """A key pair: its public JWK Set to register, its private key in a PEM file for ``--private-key-file``."""
    signer = Signer.new(alg)
    return signer, write_key(tmp_path / f"key-{signer.kid}.pem", signer.private_key)


def keyed_machine(tmp_path: Path, server: AuthorizationServer, alg: str = "ES256") -> tuple[str, Path]:
    """A client_credentials client the operator added with private_key_jwt and its public jwks; its id and key."""
    signer, key_file = keyed(tmp_path, alg)
    client = add_machine(server, "demo", method="private_key_jwt", jwks_file=jwks_file(tmp_path, signer))
    return client.client_id, key_file


def secret_machine(server: AuthorizationServer, method: str = "client_secret_basic") -> dict[str, Any]:
    """A client_credentials client the operator added with a secret, as ``clients add`` printed it."""
    return add_machine(server, "demo", method=method).info


def machine_run(mcp: McpServer, store: Path, *options: str) -> Run:
    return run_client(mcp.url, store, "--grant", "client_credentials", *options)


def grants(authorization_server: AuthorizationServer, client_id: str) -> int:
    """How many client_credentials tokens the client's journey records."""
    journey = journey_of(authorization_server.db, client_id)
    return steps(authorization_server.db, journey["id"]).count("client_credentials_granted")


def held_tokens(store: Path, mcp: McpServer) -> dict[str, Any]:
    """What the client holds for ``mcp``: its access token, maybe a refresh token, their expiry."""
    held: dict[str, Any] = read_store(store)["tokens"][mcp.url][mcp.issuer]
    return held


def assert_machine_run(run: Run, store: Path, mcp: McpServer, server: AuthorizationServer, client_id: str) -> None:
    """The run went through the steps with no user; the token is the client's own; its journey says so."""
    assert run.exit_code == 0, run.describe()
    assert run.steps == SEVEN_STEPS
    assert not any("/authorize" in request or "/register" in request for request in run.requests), run.requests
    assert f'"client_id": "{client_id}"' in run.stdout  # whoami: the MCP server took the token
    held = held_tokens(store, mcp)
    token = claims(held["access_token"])
    assert (token["sub"], token["client_id"], token["aud"]) == (client_id, client_id, mcp.url)
    assert "refresh_token" not in held  # OAuth 2.1 §4.2.3: no refresh token
    assert grants(server, client_id) == 1
    listed = server.cli("journeys", "list", "--steps").stdout
    (journey,) = [block for block in listed.split("\njourney ") if f"({client_id})" in block]
    assert "client_credentials_granted" in journey and "user_authenticated" not in journey


def test_client_credentials_with_a_secret_calls_a_tool(
    tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer
) -> None:
    """AS-32, CL-13, OAuth 2.1 §4.2: a confidential client the operator approved for client_credentials gets a token for
    itself (sub = client_id, aud = the MCP server) with client_secret_basic, no browser, and calls whoami."""
    client = secret_machine(demo_as)
    store = tmp_path / "store.json"

    run = machine_run(demo_mcp, store, "--client-id", client["client_id"], "--client-secret", client["client_secret"])

    assert_machine_run(run, store, demo_mcp, demo_as, client["client_id"])
    assert client["client_secret"] not in run.output


def test_client_credentials_with_private_key_jwt_calls_a_tool(
    tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer
) -> None:
    """AS-32, CL-13, OAuth 2.1 §4.2, RFC 7523 §2.2: a client registered with private_key_jwt and its public
    jwks authenticates with an assertion it signs; the server verifies it and issues the client's own token."""
    client_id, key_file = keyed_machine(tmp_path, demo_as)
    store = tmp_path / "store.json"

    run = machine_run(demo_mcp, store, "--client-id", client_id, "--private-key-file", str(key_file))

    assert_machine_run(run, store, demo_mcp, demo_as, client_id)
    assert "signed ES256" in run.stdout
    registration = read_store(store)["registrations"][demo_mcp.issuer]
    assert registration.pop("dpop_jwk")["kty"] == "EC"  # the demo issuer offers DPoP (RFC 9449): its own key
    assert registration == {
        "client_id": client_id,
        "token_endpoint_auth_method": "private_key_jwt",
        "kind": "pre-registered",
        "private_key_file": str(key_file),
        "private_key_alg": "ES256",
    }


def test_a_tool_for_users_refuses_the_machine_token(
    tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer
) -> None:
    """Issue 11 item 1: the token says "machine": true; add_note, declared for users in mcp_server/tools.py,
    answers it with a tool error that says why, even with mcp:write approved; exit code 8, one line."""
    client = add_machine(demo_as, "demo:mcp:read,mcp:write").info
    credentials = ["--client-id", client["client_id"], "--client-secret", client["client_secret"]]

    run = machine_run(
        demo_mcp, tmp_path / "store.json", *credentials, "--call", "add_note", "--args", '{"text": "from a job"}'
    )

    assert run.exit_code == 8, run.describe()
    assert '"machine": true' in run.stdout  # whoami, before the call
    assert "add_note acts for a user: a machine client's token" in run.stderr


def test_authorization_code_and_refresh_with_private_key_jwt(
    tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer
) -> None:
    """CL-13, RFC 7523 §2.2, OAuth 2.1 §4.1.3, §4.3.1: a client pre-registered with private_key_jwt redeems its
    code and its refresh token with a fresh assertion each; the user's token is the demo user's, not the client's;
    ``logout`` revokes the grant with one more (RFC 7009 §2.1)."""
    signer, key_file = keyed(tmp_path)
    client = register(
        demo_mcp,
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[f"http://127.0.0.1:{CALLBACK_PORT}/callback"],
        token_endpoint_auth_method="private_key_jwt",
        jwks=signer.jwks,
    )
    store = tmp_path / "store.json"

    run = run_client(
        demo_mcp.url, store, "--headless", "--callback-port", str(CALLBACK_PORT),
        "--client-id", client["client_id"], "--private-key-file", str(key_file),
    )  # fmt: skip

    assert run.exit_code == 0, run.describe()
    assert run.steps == SEVEN_STEPS
    assert run.requests.count(f"POST {demo_mcp.issuer}/token") == 2  # the code, then the refresh
    assert run.stdout.count("✓ whoami:") == 2
    held = held_tokens(store, demo_mcp)
    token = claims(held["access_token"])
    assert token["client_id"] == client["client_id"] and token["sub"] != client["client_id"]
    assert "refresh_token" in held
    journey = journey_of(demo_as.db, client["client_id"])
    assert "client_credentials_granted" not in steps(demo_as.db, journey["id"])

    logout = run_cli("logout", "--server-url", demo_mcp.url, "--store", str(store))  # RFC 7009 §2.1, signed too

    assert logout.exit_code == 0, logout.describe()
    assert steps(demo_as.db, journey["id"])[-1] == "revoked"
    assert journey_of(demo_as.db, client["client_id"])["status"] == "revoked"


class TestClientSecret:
    def test_basic_by_default_and_post_when_asked(
        self, tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer
    ) -> None:
        """CL-13, RFC 6749 §2.3.1, OAuth 2.1 §2.4.1: the server takes the secret only the way the client
        registered it; the client sends it Basic by default, in the form with --client-auth-method."""
        basic = secret_machine(demo_as)
        post = secret_machine(demo_as, "client_secret_post")
        as_post = ["--client-auth-method", "client_secret_post"]

        def run(client: dict[str, Any], *options: str) -> Run:
            credentials = ["--client-id", client["client_id"], "--client-secret", client["client_secret"]]
            return machine_run(demo_mcp, tmp_path / f"{secrets.token_hex(3)}.json", *credentials, *options)

        assert [run(basic).exit_code, run(post, *as_post).exit_code] == [0, 0]
        assert [run(basic, *as_post).exit_code, run(post).exit_code] == [7, 7]  # invalid_client: the wrong method


class TestPrivateKeyJwt:
    def test_rsa_keys_sign_rs256_by_default_and_ps256_when_asked(
        self, tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer
    ) -> None:
        """RFC 7518 §3.1, RFC 7523 §3: the algorithm follows the key type unless --private-key-alg names another;
        the server verifies both against the registered RSA key."""
        client_id, key_file = keyed_machine(tmp_path, demo_as, "RS256")
        options = ["--client-id", client_id, "--private-key-file", str(key_file)]
        first = machine_run(demo_mcp, tmp_path / "a.json", *options)
        second = machine_run(demo_mcp, tmp_path / "b.json", *options, "--private-key-alg", "PS256")
        assert (first.exit_code, second.exit_code) == (0, 0), first.describe() + second.describe()
        assert "signed RS256" in first.stdout and "signed PS256" in second.stdout

    def test_a_stored_token_is_reused_and_an_expired_one_renewed_with_a_new_assertion(
        self, tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer
    ) -> None:
        """CL-29 for a machine client, OAuth 2.1 §4.2.3: a live token is reused; an expired one is replaced by a
        new client_credentials request, never refreshed; RFC 7523 §3: the server spends each jti, so the renewal
        succeeds only with a new one."""
        client_id, key_file = keyed_machine(tmp_path, demo_as)
        store = tmp_path / "store.json"
        options = ["--client-id", client_id, "--private-key-file", str(key_file)]
        assert machine_run(demo_mcp, store, *options).exit_code == 0
        reused = machine_run(demo_mcp, store, *options)
        assert reused.exit_code == 0 and "reusing the stored access token" in reused.stdout
        assert grants(demo_as, client_id) == 1

        def expire(document: dict[str, Any]) -> None:
            document["tokens"][demo_mcp.url][demo_mcp.issuer]["expires_at"] = 0

        edit_store(store, expire)
        renewed = machine_run(demo_mcp, store, *options)
        assert renewed.exit_code == 0, renewed.describe()
        assert grants(demo_as, client_id) == 2

    def test_a_key_the_server_does_not_know_is_exit_7(
        self, tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer
    ) -> None:
        """CL-13, RFC 7523 §3: an assertion signed with another key is invalid_client; for a pre-registered
        client that is one line and exit code 7, no traceback."""
        client_id, _ = keyed_machine(tmp_path, demo_as)
        _, other = keyed(tmp_path)
        run = machine_run(demo_mcp, tmp_path / "store.json", "--client-id", client_id, "--private-key-file", str(other))
        assert run.exit_code == 7, run.describe()
        assert run.stderr.startswith(f"error: the token endpoint does not accept client {client_id}: invalid_client")
        assert run.stderr.count("\n") == 1


class TestSteps:
    def test_authorize_asks_nobody_and_token_uses_the_client_credentials(
        self, tmp_path: Path, demo_mcp: McpServer, demo_as: AuthorizationServer
    ) -> None:
        """OAuth 2.1 §4.2: with --step, authorize only says there is no user; token asks with the credentials."""
        client_id, key_file = keyed_machine(tmp_path, demo_as)
        store = tmp_path / "store.json"
        options = ["--client-id", client_id, "--private-key-file", str(key_file)]
        assert machine_run(demo_mcp, store, *options).exit_code == 0
        authorize = machine_run(demo_mcp, store, *options, "--step", "authorize")
        assert (authorize.exit_code, authorize.steps, authorize.requests) == (0, ["4 authorize"], [])
        assert "No user to ask" in authorize.stdout
        token = machine_run(demo_mcp, store, *options, "--step", "token")
        assert (token.exit_code, token.steps) == (0, ["5 token"]), token.describe()
        assert grants(demo_as, client_id) == 2
