"""Machine clients: ``--grant client_credentials`` (OAuth 2.1 §4.2; MCP ext-auth SEP-1046) and
``private_key_jwt`` (RFC 7523 §2.2, CL-13), what only a stand-in token endpoint can show.

The client against this project's own servers is tested in test_machine_clients_end_to_end.py.
What is left here needs to see the token request as sent, which our authorization server checks
but never shows: the form's fields and the assertion's claims. The mcp SDK's authorization server
serves neither the grant nor private_key_jwt, so its token endpoint is fronted by one that does
(tests/client/sdk_stack.py, ``machine_stack``): it verifies each assertion with pyjwt (signature,
``iss`` = ``sub`` = client_id, ``aud`` = issuer, ``exp``, ``jti`` never seen) and records it. The
MCP server is the SDK's, accepting only tokens issued for its URL; its issuer is spelled with a
trailing slash, which the assertion's ``aud`` must follow.
"""

import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mcp_authz.client.cli import main
from tests.client.running import Run, read_store, run_client
from tests.client.sdk_stack import SdkStack

MACHINE_STEPS = ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]


def write_key(path: Path, key: PrivateKeyTypes) -> Path:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def keyed_client(stack: SdkStack, tmp_path: Path) -> tuple[str, Path]:
    """A client the token endpoint knows by its public key, and the PEM file of its private key."""
    key = ec.generate_private_key(ec.SECP256R1())
    client_id = f"machine-{secrets.token_hex(4)}"
    stack.token_front.clients[client_id] = key.public_key()
    return client_id, write_key(tmp_path / "key.pem", key)


def machine_run(stack: SdkStack, store: Path, *options: str) -> Run:
    return run_client(stack.mcp_url, store, "--grant", "client_credentials", *options)


def issuer(stack: SdkStack) -> str:
    return f"{stack.issuer}/"  # as the SDK spells it


class TestPrivateKeyJwt:
    def test_client_credentials_with_a_signed_assertion(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """CL-13, CL-19, RFC 7523 §2.2, §3: iss = sub = client_id, aud = the issuer, 60 s, a jti; the resource;
        no user, no browser. Here because the request and the claims are read as sent, and the issuer is spelled
        with the SDK's trailing slash; our server only answers whether they pass."""
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

    def test_the_assertion_the_key_and_the_token_are_never_shown(self, tmp_path: Path, machine_stack: SdkStack) -> None:
        """CL-28: the assertion is a credential while it lives; it is masked like a token, the key never read out.
        Here because the assertion sent must be known to look for it in the output; our server never shows it."""
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


class TestRefusedBeforeAnyRequest:
    def test_an_authorization_server_without_the_grant_is_exit_4(self, tmp_path: Path, sdk_stack: SdkStack) -> None:
        """RFC 8414 §2: the SDK's own metadata lists no client_credentials grant: stop at step 2, exit 4. Here
        because our server lists the grant."""
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
