"""scripts/conformance_client.py: the conformance harness's context mapped to client.py options.

CL-10 (pre-registered → metadata document → dynamic), CL-13 (client authentication), CL-30 (a
tool call meets the step-up challenge). The harness itself runs from ``make conformance``.
"""

import json
import stat
from pathlib import Path

from scripts.conformance_client import CIMD_CLIENT_METADATA_URL, client_arguments

SERVER = "http://localhost:4100/mcp"


def test_without_a_context_the_client_offers_the_harness_metadata_document(tmp_path: Path) -> None:
    """CL-10: no pre-registered client, so the metadata document URL, used where supported (``auth/basic-cimd``)."""
    assert client_arguments("auth/basic-cimd", SERVER, {}, tmp_path) == [
        "--server-url", SERVER, "--headless", "--store", str(tmp_path / "store.json"),
        "--call", "test-tool", "--client-metadata-url", CIMD_CLIENT_METADATA_URL,
    ]  # fmt: skip


def test_pre_registered_credentials_become_client_id_and_secret(tmp_path: Path) -> None:
    """CL-10, CL-13 (``auth/pre-registration``): the context's client_id and client_secret, no metadata document."""
    context = {"name": "auth/pre-registration", "client_id": "pre", "client_secret": "s3cret", "issuer": "x"}
    arguments = client_arguments("auth/pre-registration", SERVER, context, tmp_path)
    assert arguments[-4:] == ["--client-id", "pre", "--client-secret", "s3cret"]
    assert "--client-metadata-url" not in arguments


def test_private_key_jwt_context_becomes_a_key_file_only_its_owner_reads(tmp_path: Path) -> None:
    """``auth/client-credentials-jwt``: the client_credentials grant, the PEM key in a 0600 file, its algorithm."""
    context = {"client_id": "cc", "private_key_pem": "-----BEGIN PRIVATE KEY-----\n", "signing_algorithm": "ES256"}
    arguments = client_arguments("auth/client-credentials-jwt", SERVER, context, tmp_path)
    key_file = tmp_path / "private_key.pem"
    assert arguments[5:] == [
        "--call", "test-tool", "--grant", "client_credentials", "--client-id", "cc",
        "--private-key-file", str(key_file), "--private-key-alg", "ES256",
    ]  # fmt: skip
    assert key_file.read_text() == context["private_key_pem"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_scenario_without_authorization_calls_the_tools_it_asks_for(tmp_path: Path) -> None:
    """Issue 15, "Every conformance scenario": ``tools_call`` calls add_numbers with two numbers, as the
    harness's example client does; ``sep-2322-client-request-state`` (SEP-2322) its four tools in order."""
    arguments = client_arguments("tools_call", SERVER, {}, tmp_path)
    assert arguments[5:8] == ["--call", "add_numbers", "--args"]
    assert json.loads(arguments[8]) == {"a": 2, "b": 3}
    calls = client_arguments("sep-2322-client-request-state", SERVER, {}, tmp_path)
    assert [calls[i + 1] for i, option in enumerate(calls) if option == "--call"] == [
        "test_mrtr_echo_state", "test_mrtr_unrelated", "test_mrtr_no_state", "test_mrtr_no_result_type",
    ]  # fmt: skip


def test_the_context_tool_calls_are_made_in_order_with_their_arguments(tmp_path: Path) -> None:
    """SEP-2243 (``http-custom-headers``): the context's ``toolCalls``, each ``--call`` with its ``--args``."""
    context = {"toolCalls": [{"name": "a", "arguments": {"text": "Hello, 世界"}}, {"name": "b"}]}
    arguments = client_arguments("http-custom-headers", SERVER, context, tmp_path)
    assert arguments[5:] == [
        "--call", "a", "--args", '{"text": "Hello, 世界"}', "--call", "b", "--args", "{}",
        "--client-metadata-url", CIMD_CLIENT_METADATA_URL,
    ]  # fmt: skip


def test_enterprise_context_becomes_the_enterprise_grant_with_the_id_token_in_a_file(tmp_path: Path) -> None:
    """SEP-990 (``auth/enterprise-managed-authorization``): --grant enterprise, the IdP's endpoint and client,
    the user's ID token in a 0600 file (never on the command line), the client at the MCP server's AS."""
    context = {
        "client_id": "mcp-client",
        "client_secret": "s3cret",
        "idp_client_id": "idp-client",
        "idp_id_token": "eyJ.id.token",
        "idp_issuer": "http://localhost:4200",
        "idp_token_endpoint": "http://localhost:4200/token",
    }
    arguments = client_arguments("auth/enterprise-managed-authorization", SERVER, context, tmp_path)
    token_file = tmp_path / "id_token"
    assert arguments[7:] == [
        "--grant", "enterprise", "--subject-token-file", str(token_file),
        "--idp-token-endpoint", "http://localhost:4200/token", "--idp-client-id", "idp-client",
        "--client-id", "mcp-client", "--client-secret", "s3cret",
    ]  # fmt: skip
    assert token_file.read_text() == "eyJ.id.token" and "eyJ.id.token" not in arguments
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_workload_context_becomes_the_workload_grant_with_its_jwt_in_a_file(tmp_path: Path) -> None:
    """SEP-1933 (``auth/wif-jwt-bearer``): --grant workload, the valid JWT in a 0600 file, the client_id."""
    context = {"client_id": "wif", "valid_jwt": "eyJ.valid", "wrong_audience_jwt": "x", "expired_jwt": "y"}
    arguments = client_arguments("auth/wif-jwt-bearer", SERVER, context, tmp_path)
    assert arguments[7:] == [
        "--grant", "workload", "--assertion-file", str(tmp_path / "workload_jwt"), "--client-id", "wif",
    ]  # fmt: skip
    assert (tmp_path / "workload_jwt").read_text() == "eyJ.valid"
