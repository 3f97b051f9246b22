"""Machine clients: ``--grant client_credentials`` (OAuth 2.1 §4.2; MCP ext-auth SEP-1046) and
``private_key_jwt`` (RFC 7523 §2.2, CL-13), run as users run them.

Neither the mcp SDK's authorization server nor this project's serves the client_credentials grant
or private_key_jwt yet, so the SDK's token endpoint is fronted by one that does
(tests/client/sdk_stack.py, ``machine_stack``): it verifies each assertion with pyjwt (signature,
``iss`` = ``sub`` = client_id, ``aud`` = issuer, ``exp``, ``jti`` never seen) and each secret. The
MCP server is the SDK's, accepting only tokens issued for its URL.
"""

import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl

from client.cli import main
from tests.client.running import Run, edit_store, read_store, run_client
from tests.client.sdk_stack import MachineClient, SdkStack

CALLBACK_PORT = 8889
MACHINE_STEPS = ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]


def write_key(path: Path, key: PrivateKeyTypes) -> Path:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def keyed_client(stack: SdkStack, tmp_path: Path, key: PrivateKeyTypes | None = None) -> tuple[str, Path]:
    """A client the token endpoint knows by its public key, and the PEM file of its private key."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    client_id = f"machine-{secrets.token_hex(4)}"
    stack.token_front.clients[client_id] = MachineClient(client_id, public_key=key.public_key())
    return client_id, write_key(tmp_path / "key.pem", key)


def public_sdk_client(client_id: str) -> OAuthClientInformationFull:
    """How the SDK's authorize and token handlers see a keyed client: its key is checked in front of them."""
    return OAuthClientInformationFull(
        client_id=client_id,
        redirect_uris=[AnyUrl(f"http://127.0.0.1:{CALLBACK_PORT}/callback")],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="none",
        scope="peer:read peer:write",
    )


def machine_run(stack: SdkStack, store: Path, *options: str) -> Run:
    return run_client(stack.mcp_url, store, "--grant", "client_credentials", *options)


def issuer(stack: SdkStack) -> str:
    return f"{stack.issuer}/"  # as the SDK spells it


class TestPrivateKeyJwt:
    def test_client_credentials_with_a_signed_assertion(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """CL-13, CL-19, RFC 7523 §2.2, §3: iss = sub = client_id, aud = the issuer, 60 s, a jti; the resource;
        no user, no browser."""
        client_id, key_file = keyed_client(machine_stack, tmp_path)
        store = tmp_path / "store.json"
        sent_before = len(machine_stack.token_front.requests)
        run = machine_run(machine_stack, store, "--client-id", client_id, "--private-key-file", str(key_file))
        assert run.exit_code == 0, run.describe()
        assert run.steps == MACHINE_STEPS
        assert not any("/authorize" in request or "/register" in request for request in run.requests)
        (request,) = machine_stack.token_front.requests[sent_before:]
        assert {name: request[name] for name in ("grant_type", "resource", "scope", "client_id")} == {
            "grant_type": "client_credentials",
            "resource": machine_stack.mcp_url,  # CL-19
            "scope": "peer:read",  # CL-15: the protected resource metadata's scopes_supported
            "client_id": client_id,
        }
        claims = machine_stack.token_front.assertions[-1]
        assert (claims["iss"], claims["sub"], claims["aud"], claims["exp"] - claims["iat"]) == (
            client_id,
            client_id,
            issuer(machine_stack),
            60,
        )
        assert f'"client_id": "{client_id}"' in run.stdout  # whoami: the SDK's MCP server took the token
        held = read_store(store)["tokens"][machine_stack.mcp_url][issuer(machine_stack)]
        assert "refresh_token" not in held
        assert read_store(store)["registrations"][issuer(machine_stack)] == {
            "client_id": client_id,
            "token_endpoint_auth_method": "private_key_jwt",
            "kind": "pre-registered",
            "private_key_file": str(key_file),
            "private_key_alg": "ES256",
        }

    def test_the_assertion_the_key_and_the_token_are_never_shown(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """CL-28: the assertion is a credential while it lives; it is masked like a token, the key never read out."""
        client_id, key_file = keyed_client(machine_stack, tmp_path)
        store = tmp_path / "store.json"
        sent_before = len(machine_stack.token_front.requests)
        run = machine_run(machine_stack, store, "--client-id", client_id, "--private-key-file", str(key_file))
        assert run.exit_code == 0, run.describe()
        (request,) = machine_stack.token_front.requests[sent_before:]
        assert request["client_assertion"] not in run.output
        assert f"client_assertion={request['client_assertion'][:6]}…" in run.stdout
        assert "PRIVATE KEY" not in run.output and "PRIVATE KEY" not in store.read_text()
        held = read_store(store)["tokens"][machine_stack.mcp_url][issuer(machine_stack)]
        assert held["access_token"] not in run.output

    def test_rsa_keys_sign_rs256_by_default_and_ps256_when_asked(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """RFC 7518 §3.1: the algorithm follows the key type unless --private-key-alg names another."""
        client_id, key_file = keyed_client(machine_stack, tmp_path, rsa.generate_private_key(65537, 2048))
        options = ["--client-id", client_id, "--private-key-file", str(key_file)]
        first = machine_run(machine_stack, tmp_path / "a.json", *options)
        second = machine_run(machine_stack, tmp_path / "b.json", *options, "--private-key-alg", "PS256")
        assert (first.exit_code, second.exit_code) == (0, 0), first.describe() + second.describe()
        assert "signed RS256" in first.stdout and "signed PS256" in second.stdout

    def test_every_request_carries_a_new_jti(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """RFC 7523 §3: a jti is never reused, so a server can refuse replays; CL-29 for a machine client: an
        expired token is renewed with a new client_credentials request, never a refresh token (OAuth 2.1 §4.2.3)."""
        client_id, key_file = keyed_client(machine_stack, tmp_path)
        store = tmp_path / "store.json"
        options = ["--client-id", client_id, "--private-key-file", str(key_file)]
        assert machine_run(machine_stack, store, *options).exit_code == 0
        reused = machine_run(machine_stack, store, *options)
        assert reused.exit_code == 0 and "reusing the stored access token" in reused.stdout

        def expire(document: dict) -> None:  # type: ignore[type-arg]
            document["tokens"][machine_stack.mcp_url][issuer(machine_stack)]["expires_at"] = 0

        edit_store(store, expire)
        sent_before = len(machine_stack.token_front.requests)
        renewed = machine_run(machine_stack, store, *options)
        assert renewed.exit_code == 0, renewed.describe()
        assert [request["grant_type"] for request in machine_stack.token_front.requests[sent_before:]] == [
            "client_credentials"
        ]
        jtis = [claims["jti"] for claims in machine_stack.token_front.assertions if claims["iss"] == client_id]
        assert len(jtis) == 2 and len(set(jtis)) == 2

    def test_a_key_the_server_does_not_know_is_exit_7(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """CL-13: invalid_client for a pre-registered client is one line and exit code 7, no traceback."""
        client_id, _ = keyed_client(machine_stack, tmp_path)
        other = write_key(tmp_path / "other.pem", ec.generate_private_key(ec.SECP256R1()))
        run = machine_run(
            machine_stack, tmp_path / "store.json", "--client-id", client_id, "--private-key-file", str(other)
        )
        assert run.exit_code == 7, run.describe()
        assert run.stderr.startswith(f"error: the token endpoint does not accept client {client_id}: invalid_client")
        assert run.stderr.count("\n") == 1

    def test_authorization_code_and_refresh_with_private_key_jwt(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """CL-13: a client pre-registered with private_key_jwt signs an assertion for the code and for the refresh."""
        client_id, key_file = keyed_client(machine_stack, tmp_path)
        machine_stack.provider.clients[client_id] = public_sdk_client(client_id)
        sent_before = len(machine_stack.token_front.requests)
        run = run_client(
            machine_stack.mcp_url, tmp_path / "store.json", "--headless", "--callback-port", str(CALLBACK_PORT),
            "--client-id", client_id, "--private-key-file", str(key_file),
        )  # fmt: skip
        assert run.exit_code == 0, run.describe()
        requests = machine_stack.token_front.requests[sent_before:]
        assert [request["grant_type"] for request in requests] == ["authorization_code", "refresh_token"]
        assert all("client_assertion" in request and "client_secret" not in request for request in requests)
        assert [claims["iss"] for claims in machine_stack.token_front.assertions[-2:]] == [client_id, client_id]


class TestSteps:
    def test_authorize_asks_nobody_and_token_uses_the_client_credentials(
        self, tmp_path: Path, machine_stack: SdkStack
    ) -> None:
        """OAuth 2.1 §4.2: with --step, authorize only says there is no user; token asks with the credentials."""
        client_id, key_file = keyed_client(machine_stack, tmp_path)
        store = tmp_path / "store.json"
        options = ["--client-id", client_id, "--private-key-file", str(key_file)]
        assert machine_run(machine_stack, store, *options).exit_code == 0
        authorize = machine_run(machine_stack, store, *options, "--step", "authorize")
        assert (authorize.exit_code, authorize.steps, authorize.requests) == (0, ["4 authorize"], [])
        assert "No user to ask" in authorize.stdout
        token = machine_run(machine_stack, store, *options, "--step", "token")
        assert (token.exit_code, token.steps) == (0, ["5 token"]), token.describe()
        assert machine_stack.token_front.requests[-1]["grant_type"] == "client_credentials"


class TestClientSecret:
    def test_basic_by_default_when_the_server_lists_it(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """CL-13, RFC 8414 §2: the metadata lists both methods; the secret goes as client_secret_basic."""
        client_id = f"secret-{secrets.token_hex(4)}"
        machine_stack.token_front.clients[client_id] = MachineClient(client_id, secret="s3cret-value")
        sent_before = len(machine_stack.token_front.requests)
        run = machine_run(
            machine_stack, tmp_path / "store.json", "--client-id", client_id, "--client-secret", "s3cret-value"
        )
        assert run.exit_code == 0, run.describe()
        (request,) = machine_stack.token_front.requests[sent_before:]
        assert request["authorization"].startswith("Basic ") and "client_secret" not in request
        assert "s3cret-value" not in run.output

    def test_post_when_asked(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """CL-13, RFC 6749 §2.3.1: --client-auth-method client_secret_post puts the secret in the form."""
        client_id = f"secret-{secrets.token_hex(4)}"
        machine_stack.token_front.clients[client_id] = MachineClient(
            client_id, secret="s3cret-value", method="client_secret_post"
        )
        run = machine_run(
            machine_stack, tmp_path / "store.json", "--client-id", client_id, "--client-secret", "s3cret-value",
            "--client-auth-method", "client_secret_post",
        )  # fmt: skip
        assert run.exit_code == 0, run.describe()
        assert machine_stack.token_front.requests[-1]["client_secret"] == "s3cret-value"


class TestRefusedBeforeAnyRequest:
    def test_an_authorization_server_without_the_grant_is_exit_4(self, tmp_path: Path, sdk_stack: SdkStack) -> None:
        """RFC 8414 §2: the SDK's own metadata lists no client_credentials grant: stop at step 2, exit 4."""
        sent_before = len(sdk_stack.token_front.requests)
        run = machine_run(sdk_stack, tmp_path / "store.json", "--client-id", "m", "--client-secret", "s")
        assert run.exit_code == 4, run.describe()
        assert "does not list client_credentials in grant_types_supported" in run.stderr
        assert len(sdk_stack.token_front.requests) == sent_before

    def test_usage_errors_are_exit_2(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The flags a machine client needs, checked before any request; a key file's content is never shown."""
        rsa_key = write_key(tmp_path / "rsa.pem", rsa.generate_private_key(65537, 2048))
        not_a_key = tmp_path / "notes.txt"
        not_a_key.write_text("secret notes\n")
        url = "http://localhost:1/mcp"
        cases = {
            "--grant client_credentials needs --client-id with --client-secret or --private-key-file": [
                "--grant", "client_credentials", "--client-id", "m",
            ],
            "--private-key-alg needs --private-key-file": ["--client-id", "m", "--private-key-alg", "ES256"],
            "--private-key-file needs --client-id or --client-metadata-url": ["--private-key-file", str(rsa_key)],
            f"--private-key-alg: ES256 cannot sign with the key in {rsa_key}": [
                "--client-id", "m", "--private-key-file", str(rsa_key), "--private-key-alg", "ES256",
            ],
            f"--private-key-file: {not_a_key} is not an unencrypted PEM private key": [
                "--client-id", "m", "--private-key-file", str(not_a_key),
            ],
            f"--private-key-file: cannot read {tmp_path / 'missing.pem'}": [
                "--client-id", "m", "--private-key-file", str(tmp_path / "missing.pem"),
            ],
        }  # fmt: skip
        for message, options in cases.items():
            assert main(["--server-url", url, "--store", str(tmp_path / "s.json"), *options]) == 2, message
            out, err = capsys.readouterr()
            assert out == "" and err.startswith(f"error: {message}"), err
            assert "secret notes" not in err
