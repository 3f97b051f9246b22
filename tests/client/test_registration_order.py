"""Step 3 in MCP Client Registration's order: pre-registered, a metadata document, dynamic (CL-10, CL-13, CL-14).

The fake MCP server refuses every token, so each run stops at step 6 with exit code 8; what is
checked happened before: the registration chosen, and how the token request authenticated.
"""

from pathlib import Path

from tests.client.fake_stack import FAKE_CODE, FakeStack
from tests.client.running import Run, read_store, run_client

DOCUMENT = "https://client.example.com/mcp-client.json"


def run_to_the_call(fake: FakeStack, store: Path, *options: str) -> Run:
    run = run_client(fake.mcp_url, store, "--headless", *options)
    assert run.exit_code == 8, run.describe()
    assert run.stderr.startswith("error: the MCP server does not accept the access token")
    return run


class TestPreRegistered:
    def test_no_registration_request_and_basic_authentication(self, tmp_path: Path, fake: FakeStack) -> None:
        """CL-10, CL-13: --client-id is used as given, its secret sent as client_secret_basic by default."""
        store = tmp_path / "store.json"
        run = run_to_the_call(fake, store, "--client-id", "pre-client", "--client-secret", "s3cret")
        assert "POST /as/register" not in fake.requests
        assert fake.token_requests[0]["authorization"] == "Basic cHJlLWNsaWVudDpzM2NyZXQ="
        assert "client_id" not in fake.token_requests[0]
        assert read_store(store)["registrations"][fake.issuer] == {
            "client_id": "pre-client",
            "token_endpoint_auth_method": "client_secret_basic",
            "client_secret": "s3cret",
            "kind": "pre-registered",
        }
        assert "s3cret" not in run.output

    def test_client_secret_post_sends_the_secret_in_the_form(self, tmp_path: Path, fake: FakeStack) -> None:
        """CL-13, RFC 6749 §2.3.1: --client-auth-method client_secret_post puts the secret in the body."""
        options = [
            "--client-id",
            "pre-client",
            "--client-secret",
            "s3cret",
            "--client-auth-method",
            "client_secret_post",
        ]
        run_to_the_call(fake, tmp_path / "store.json", *options)
        request = fake.token_requests[0]
        assert (request["client_id"], request["client_secret"], "authorization" in request) == (
            "pre-client",
            "s3cret",
            False,
        )
        assert request["code"] == FAKE_CODE

    def test_invalid_client_is_an_error_not_a_new_registration(self, tmp_path: Path, fake: FakeStack) -> None:
        """CL-14: the server does not know a pre-registered client: exit 7, and no dynamic registration."""
        fake.reset(token_error="invalid_client")
        run = run_client(fake.mcp_url, tmp_path / "store.json", "--headless", "--client-id", "pre-client")
        assert run.exit_code == 7, run.describe()
        assert "POST /as/register" not in fake.requests
        assert run.stderr == (
            "error: the token endpoint does not accept client pre-client: invalid_client "
            "(a pre-registered client_id: check it)\n"
        )


class TestMetadataDocument:
    def test_the_url_is_the_client_id_where_supported(self, tmp_path: Path, fake: FakeStack) -> None:
        """CL-10, CL-11: with client_id_metadata_document_supported, the URL is the client_id; no /register."""
        fake.reset(metadata_documents=True)
        store = tmp_path / "store.json"
        run_to_the_call(fake, store, "--client-metadata-url", DOCUMENT)
        assert "POST /as/register" not in fake.requests
        assert fake.token_requests[0]["client_id"] == DOCUMENT
        assert read_store(store)["registrations"][fake.issuer]["kind"] == "metadata-document"

    def test_without_support_it_registers_dynamically(self, tmp_path: Path, fake: FakeStack) -> None:
        """CL-10: a server without client_id_metadata_document_supported gets a dynamic registration, and it says so."""
        store = tmp_path / "store.json"
        run = run_to_the_call(fake, store, "--client-metadata-url", DOCUMENT)
        assert "POST /as/register" in fake.requests
        assert "--client-metadata-url is not used, falling back to dynamic registration" in run.stdout
        assert read_store(store)["registrations"][fake.issuer] == {
            "client_id": "fake-client",
            "token_endpoint_auth_method": "none",
            "kind": "dynamic",
        }


def test_a_metadata_document_url_needs_https_and_a_path(tmp_path: Path) -> None:
    """CL-11: --client-metadata-url https://example.com/ is refused before any request, exit code 2."""
    run = run_client("http://localhost:9/mcp", tmp_path / "s.json", "--client-metadata-url", "https://example.com/")
    assert run.exit_code == 2, run.describe()
    assert run.stderr.startswith("error: --client-metadata-url: an https URL with a path")


def test_a_secret_needs_a_client_id(tmp_path: Path) -> None:
    """--client-secret without --client-id is a usage error, exit code 2."""
    run = run_client("http://localhost:9/mcp", tmp_path / "s.json", "--client-secret", "s3cret")
    assert (run.exit_code, run.stderr) == (2, "error: --client-secret needs --client-id\n")
