"""The command line (client/cli.py, client/errors.py): options, defaults, exit codes."""

from pathlib import Path

import pytest

from mcp_authz.client import errors
from mcp_authz.client.cli import EXIT_CODES, attached, default_store, main, parser
from mcp_authz.client.errors import one_line


class TestHelp:
    """The issue's options, each documented in --help."""

    def test_every_option_is_documented(self) -> None:
        """--help names each option and every exit code."""
        text = parser().format_help()
        options = ["--server-url", "--headless", "--no-browser", "--store", "--callback-port"]
        more = ["--client-name", "--callback-timeout", "--step", "--json", "--verbose", "--call", "--args"]
        more += ["--client-id", "--client-secret", "--client-auth-method", "--client-metadata-url", "servers", "logout"]
        more += ["--grant", "--private-key-file", "--private-key-alg"]
        assert [option for option in [*options, *more] if option not in text] == []
        assert EXIT_CODES in text

    def test_headless_and_no_browser_exclude_each_other(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Both at once is a usage error, exit 2."""
        with pytest.raises(SystemExit) as exited:
            parser().parse_args(["--server-url", "http://localhost:8000/mcp", "--headless", "--no-browser"])
        assert exited.value.code == 2
        assert "argument --no-browser: not allowed with argument --headless" in capsys.readouterr().err


class TestCredentialOptions:
    """CL-13: --client-id and --client-secret take what the authorization server issued, whatever it begins with."""

    def test_a_client_id_or_secret_may_begin_with_a_dash(self, tmp_path: Path) -> None:
        """RFC 4648 §5: base64url credentials begin with "-" one time in 64 (as this project's authorization server
        issues them); given as the option's next argument they are its value, not an unknown option."""
        url = "http://localhost:1/mcp"  # nothing listens: exit 3 means the command line was accepted
        options = ["--grant", "client_credentials", "--client-id", "-Xq4b", "--client-secret", "-s3cret"]
        assert main(["--server-url", url, "--store", str(tmp_path / "s.json"), *options]) == 3
        assert attached(["--client-id", "-Xq4b", "--client-secret", "-s3cret", "--step", "token"]) == [
            "--client-id=-Xq4b", "--client-secret=-s3cret", "--step", "token",
        ]  # fmt: skip


class TestDefaultStore:
    """The XDG Base Directory specification's state directory."""

    def test_under_xdg_state_home(self) -> None:
        """An absolute XDG_STATE_HOME holds the store."""
        assert default_store({"XDG_STATE_HOME": "/var/state"}) == Path("/var/state/mcp-auth-client/store.json")

    @pytest.mark.parametrize("environ", [{}, {"XDG_STATE_HOME": ""}, {"XDG_STATE_HOME": "relative/state"}])
    def test_else_under_local_state(self, environ: dict[str, str]) -> None:
        """Unset, empty or relative values are ignored, as the specification says."""
        assert default_store(environ) == Path.home() / ".local/state/mcp-auth-client/store.json"


class TestExitCodes:
    """One exit code per failure class, and one line per failure."""

    def test_one_code_per_failure_class(self) -> None:
        """The codes of client/errors.py, as --help lists them."""
        classes = [
            errors.ClientError,
            errors.UsageError,
            errors.McpServerError,
            errors.AuthorizationServerError,
            errors.RegistrationError,
            errors.AuthorizationError,
            errors.TokenError,
            errors.ToolCallError,
            errors.StoreError,
            errors.StepOrderError,
        ]
        assert [cls.exit_code for cls in classes] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        assert (errors.InvalidClient.exit_code, errors.TokenRejected.exit_code) == (7, 8)

    def test_a_message_is_one_line_without_control_characters(self) -> None:
        """Server text is untrusted: no newline, no escape sequence reaches the terminal."""
        assert one_line("bad\n\x1b[31mred\x1b[0m\r\nend") == "bad [31mred [0m end"
        assert str(errors.TokenError("a\nb")) == "a b"
