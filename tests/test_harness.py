"""The in-process harness (scripts/stack.py, docs/testing.md) behaves as the program it stands in for."""

from pathlib import Path

import httpx2
import pytest

from mcp_authz.authorization_server import settings as settings_module
from scripts.stack import start_authorization_server


def test_settings_from_options_refuse_a_bad_value_in_one_line() -> None:
    """Issue 12: the harness builds settings from explicit options; a bad one is a ValueError, as for the CLI."""
    with pytest.raises(ValueError, match="--port"):
        settings_module.from_options(["--port", "not-a-port"], {})
    assert settings_module.from_options(["--port", "8123"], {"AS_DEMO": "1"}).port == 8123


def test_each_in_process_server_logs_its_own_requests_only(tmp_path: Path) -> None:
    """Issue 12: tests read a server's log; two in-process servers must not see each other's lines."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = start_authorization_server(tmp_path / "first", demo=False, in_process=True)
    try:
        second = start_authorization_server(tmp_path / "second", demo=False, in_process=True)
        try:
            assert httpx2.get(f"{first.url}/jwks.json").status_code == 200
        finally:
            second.program.stop()
    finally:
        first.program.stop()
    assert "GET /jwks.json 200" in first.program.log()
    assert "GET /jwks.json" not in second.program.log()
    assert "authorization server ready" in second.program.log()


def test_the_in_process_command_line_answers_as_the_program_does(tmp_path: Path) -> None:
    """Issue 12: ``cli`` in-process gives the output and exit status ``python -m authorization_server`` gives."""
    server = start_authorization_server(tmp_path, demo=False, in_process=True)
    try:
        added = server.cli("mcp-servers", "add", "--id", "notes", "--resource", "http://localhost:8111/mcp",
                           "--scopes", "notes:read")  # fmt: skip
        listed = server.cli("mcp-servers", "list").stdout
        refused = server.cli("mcp-servers", "add", "--id", "notes", check=False)
    finally:
        server.program.stop()
    assert added.returncode == 0
    assert "notes" in listed
    assert refused.returncode == 2
    assert "required" in refused.stderr
