"""Issue 17, "A configuration file (TOML) beside flags and environment", at the MCP server too."""

import dataclasses
import tomllib
from pathlib import Path

import pytest

from mcp_authz.mcp_server.settings import FILE_KEYS, SECRETS, Settings, load

SECRET = "an-introspection-secret-not-to-print"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_options_win_over_the_environment_which_wins_over_the_file_over_the_defaults(tmp_path: Path):
    """Issue 17 (configuration file): flags > MCP_* variables > file > defaults."""
    config = write(tmp_path / "mcp.toml", 'port = 8100\nscopes = "notes:read notes:write"\nheader_timeout = 3\n')

    only_file = load(["--config", str(config)], {})
    env_over_file = load(["--config", str(config)], {"MCP_SCOPES": "notes:read"})
    option_over_env = load(["--config", str(config), "--scopes", "x"], {"MCP_SCOPES": "notes:read"})

    assert (only_file.port, only_file.scopes, only_file.header_timeout) == (8100, ("notes:read", "notes:write"), 3)
    assert only_file.resource == "http://localhost:8100/mcp"  # derived from the file's port
    assert only_file.body_timeout == 10  # untouched settings keep their defaults
    assert env_over_file.scopes == ("notes:read",)
    assert option_over_env.scopes == ("x",)


def test_the_file_is_named_by_the_mcp_config_variable_too(tmp_path: Path):
    """Issue 17: ``MCP_CONFIG`` names the file when ``--config`` does not."""
    config = write(tmp_path / "mcp.toml", 'name = "Notes"\n')

    assert load([], {"MCP_CONFIG": str(config)}).name == "Notes"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("prot = 8100\n", "'prot' is not a setting (did you mean port?)"),
        ('port = "8100"\n', "port must be a whole number, not '8100'"),
        ("scopes = 1\n", "scopes must be a string, not 1"),
        ('log_level = "loud"\n', "log_level must be one of debug, info, warning, error"),
        ("port = \n", "not TOML"),
    ],
)
def test_an_unknown_key_or_a_wrong_type_stops_the_server_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
):
    """Issue 17: an unknown key or a wrong type in the file stops the program with one line."""
    config = write(tmp_path / "mcp.toml", text)

    with pytest.raises(SystemExit) as stopped:
        load(["--config", str(config)], {})

    error = capsys.readouterr().err
    assert stopped.value.code == 2
    assert error.count("\n") == 1
    assert error.startswith(f"mcp_server: configuration file {config}: ")
    assert says in error


def test_print_config_shows_the_effective_settings_as_toml_with_the_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """Issue 17: ``--print-config`` prints the effective settings as TOML, secrets masked, that the file reads back."""
    config = write(tmp_path / "mcp.toml", f'port = 8100\nintrospection_client_secret = "{SECRET}"\n')

    with pytest.raises(SystemExit) as stopped:
        load(["--config", str(config), "--name", "Notes", "--print-config"], {})

    printed = capsys.readouterr().out
    assert stopped.value.code == 0
    assert SECRET not in printed
    assert "# introspection_client_secret = (set, masked" in printed
    document = tomllib.loads(printed)
    assert (document["port"], document["name"], document["introspection_client_id"]) == (8100, "Notes", "demo")
    assert set(document) <= set(FILE_KEYS)
    again = write(tmp_path / "printed.toml", printed)
    assert load(["--config", str(again)], {"MCP_INTROSPECTION_CLIENT_SECRET": SECRET}) == load(
        ["--config", str(config), "--name", "Notes"], {}
    )


def test_every_file_key_is_an_option_and_documented():
    """Issue 17: the file's keys are the options' names, each listed in docs/configuration.md."""
    with pytest.raises(SystemExit):
        load(["--help"], {})
    document = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()

    for key in FILE_KEYS:
        assert f"| `{key}` | `--{key.replace('_', '-')}` | `MCP_{key.upper()}` |" in document


def test_every_secret_bearing_setting_is_masked_by_print_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Issue 17 audit (``--print-config`` masks secrets, "including ones added recently"): every setting whose name
    says it holds a secret, token exchange's ``client_secret`` too, is left out of the repr and masked; none of the
    values given shows."""
    named = {key for key in FILE_KEYS if any(word in key for word in ("secret", "password", "_key", "token"))}
    hidden = {field.name for field in dataclasses.fields(Settings) if not field.repr}
    given = {key: f"{key}-given-value" for key in sorted(named)}
    config = write(tmp_path / "mcp.toml", "".join(f'{key} = "{value}"\n' for key, value in given.items()))

    with pytest.raises(SystemExit):
        load(["--config", str(config), "--print-config"], {})

    printed = capsys.readouterr().out
    assert named == set(SECRETS) == hidden
    assert [value for value in given.values() if value in printed] == []
    assert all(f"# {key} = (set, masked" in printed for key in named)
