"""Every failure a user can meet ends with one line and the exit code of its class, never a traceback.

Real servers where they can produce the failure (nothing listening, the authorization server
taken for an MCP server); the fake stack where only a wrong server can.
"""

from pathlib import Path

from scripts.stack import AuthorizationServer, free_port
from tests.client.fake_stack import FakeStack
from tests.client.running import Run, run_client


def assert_one_line(run: Run, exit_code: int, line: str) -> None:
    assert (run.exit_code, run.stderr) == (exit_code, f"error: {line}\n"), run.describe()


class TestUsage:
    """Exit 2: the command line is wrong."""

    def test_a_url_that_is_not_http_is_refused(self, tmp_path: Path) -> None:
        """A server URL must be an absolute http(s) URL."""
        run = run_client("file:///etc/passwd", tmp_path / "store.json")
        assert_one_line(run, 2, "--server-url: 'file:///etc/passwd' is not an absolute http(s) URI")

    def test_plain_http_is_refused_off_loopback(self, tmp_path: Path) -> None:
        """MCP Communication Security: https, or http on loopback only."""
        run = run_client("http://mcp.example.com/mcp", tmp_path / "store.json")
        assert_one_line(run, 2, "--server-url: plain http is only allowed on loopback (localhost, 127.0.0.1, [::1])")


class TestMcpServer:
    """Exit 3: the MCP server is down, is not an MCP server, or its metadata is not for it (CL-03)."""

    def test_a_server_that_is_down(self, tmp_path: Path) -> None:
        """Nothing listens at the URL: one line saying what to check (issue 17), exit status 3 from
        ``python client.py`` as a program."""
        url = f"http://127.0.0.1:{free_port()}/mcp"
        run = run_client(url, tmp_path / "store.json", "--headless", process=True)
        assert_one_line(
            run,
            3,
            f"cannot reach the MCP server at {url} (All connection attempts failed): check that it is running and "
            "--server-url",
        )

    def test_a_server_that_is_not_an_mcp_server(self, tmp_path: Path, demo_as: AuthorizationServer) -> None:
        """The authorization server itself answers an MCP request (a POST to its home page) with 405; the line
        says to check --server-url, with an example (issue 17)."""
        run = run_client(demo_as.url, tmp_path / "store.json")
        assert_one_line(
            run,
            3,
            f"{demo_as.url} answered 405 Method Not Allowed, not 401 with a Bearer challenge: check that "
            "--server-url is an MCP endpoint (e.g. http://localhost:8000/mcp)",
        )

    def test_a_server_without_protected_resource_metadata(self, fake: FakeStack, tmp_path: Path) -> None:
        """CL-02: the URL of the challenge answers 404, and nothing else is probed."""
        fake.reset(publishes_metadata=False)
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert_one_line(
            run,
            3,
            f"no usable protected resource metadata for {fake.mcp_url} "
            f"({fake.base}/.well-known/oauth-protected-resource/mcp: 404 Not Found): check the MCP server's "
            "resource URL and the metadata it publishes (RFC 9728)",
        )
        assert fake.requests == ["POST /mcp", "GET /.well-known/oauth-protected-resource/mcp"]

    def test_metadata_for_another_resource_is_not_used(self, fake: FakeStack, tmp_path: Path) -> None:
        """CL-03, RFC 9728 §3.3: no authorization server is even contacted."""
        fake.reset(resource="https://evil.example.com/mcp")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert_one_line(
            run,
            3,
            f"no usable protected resource metadata for {fake.mcp_url} ({fake.base}/.well-known/oauth-protected-"
            f"resource/mcp describes 'https://evil.example.com/mcp', not {fake.mcp_url} (RFC 9728 §3.3)): check the "
            "MCP server's resource URL and the metadata it publishes (RFC 9728)",
        )
        assert fake.requests == ["POST /mcp", "GET /.well-known/oauth-protected-resource/mcp"]


class TestAuthorizationServer:
    """Exit 4: the authorization server is down, or its metadata is unusable."""

    def test_an_authorization_server_that_is_down(self, fake: FakeStack, tmp_path: Path) -> None:
        """The issuer the MCP server names does not answer."""
        issuer = f"http://localhost:{free_port()}/as"
        fake.reset(authorization_server=issuer)
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert_one_line(
            run,
            4,
            f"cannot reach the authorization server {issuer} (All connection attempts failed): check that it is "
            "running and that the MCP server names the right one",
        )

    def test_metadata_for_another_issuer_is_not_used(self, fake: FakeStack, tmp_path: Path) -> None:
        """CL-06, RFC 8414 §3.3: an issuer that differs by a trailing slash is another issuer."""
        fake.reset(metadata_issuer=fake.issuer + "/")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert run.exit_code == 4, run.describe()
        assert run.stderr == (
            f"error: no usable metadata for the authorization server {fake.issuer} ({fake.base}/.well-known/oauth-"
            f"authorization-server/as is for the issuer '{fake.issuer}/', not '{fake.issuer}' (RFC 8414 §3.3); "
            "2 more URLs tried): check the issuer the MCP server names (RFC 8414)\n"
        ), "issue 17: the first reason and what to check, in one short line"
        assert "POST /as/register" not in fake.requests

    def test_metadata_urls_are_tried_in_the_spec_order(self, fake: FakeStack, tmp_path: Path) -> None:
        """CL-05, §5.1: path-inserted RFC 8414, path-inserted OIDC, then appended OIDC."""
        fake.reset(metadata_issuer="https://other.example")
        run_client(fake.mcp_url, tmp_path / "store.json")
        assert fake.requests[2:] == [
            "GET /.well-known/oauth-authorization-server/as",
            "GET /.well-known/openid-configuration/as",
            "GET /as/.well-known/openid-configuration",
        ]

    def test_an_authorization_server_without_s256_is_refused(self, fake: FakeStack, tmp_path: Path) -> None:
        """CL-07: without S256 in code_challenge_methods_supported the client does not go on."""
        fake.reset(code_challenge_methods=["plain"])
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert_one_line(
            run,
            4,
            f"{fake.issuer} does not list S256 in code_challenge_methods_supported: "
            "MCP clients must not continue without PKCE S256 (CL-07)",
        )
        assert "POST /as/register" not in fake.requests

    def test_a_javascript_authorization_endpoint_is_never_opened(self, fake: FakeStack, tmp_path: Path) -> None:
        """CL-22: only https, or http on loopback, authorization URLs are opened."""
        fake.reset(authorization_endpoint="javascript:alert(1)")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert_one_line(
            run,
            4,
            f"the authorization_endpoint 'javascript:alert(1)' of {fake.issuer} is refused: "
            "only absolute https URLs (or http on loopback) are followed (CL-08)",
        )


class TestRegistration:
    """Exit 5: the registration is refused (CL-12: the server's error is shown)."""

    def test_a_refused_registration(self, fake: FakeStack, tmp_path: Path) -> None:
        """The server's error code and description make the line."""
        fake.reset(registration_error="redirect URIs must be https")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert_one_line(run, 5, "the registration was refused: invalid_client_metadata: redirect URIs must be https")


class TestToken:
    """Exit 7: the token endpoint refuses the code."""

    def test_a_refused_code(self, fake: FakeStack, tmp_path: Path) -> None:
        """The token endpoint's error code makes the line."""
        fake.reset(token_error="invalid_grant")
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert_one_line(run, 7, "the token endpoint refused the request: invalid_grant")


class TestToolCall:
    """Exit 8: the MCP server refuses a token it has just been given."""

    def test_a_new_token_refused_by_the_server(self, fake: FakeStack, tmp_path: Path) -> None:
        """A fresh token answered with 401 is not renewed again: the run stops."""
        run = run_client(fake.mcp_url, tmp_path / "store.json")
        assert_one_line(run, 8, "the MCP server does not accept the access token: no description")


class TestStore:
    """Exit 9: the store cannot be read."""

    def test_a_store_that_is_not_json(self, tmp_path: Path) -> None:
        """The line names the file and the way out."""
        store = tmp_path / "store.json"
        store.write_text("{not json")
        run = run_client(f"http://127.0.0.1:{free_port()}/mcp", store)
        assert run.exit_code == 9, run.describe()
        assert run.stderr.startswith(f"error: the store {store} is not usable (")
        assert run.stderr.endswith("): move it away or pass another --store\n")
