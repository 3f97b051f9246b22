"""Issue 17, "A configuration file (TOML) beside flags and environment": the file, its precedence,
its one-line refusals, ``--print-config`` with the secrets masked, and the documented table."""

import os
import tomllib
from pathlib import Path

import pytest

from mcp_authz.authorization_server import settings as settings_module
from mcp_authz.authorization_server.cli import main
from mcp_authz.authorization_server.settings import from_options
from scripts.configuration_table import DOCUMENT, with_table

SECRET = "a-long-admin-password-not-to-print"


@pytest.fixture(autouse=True)
def _no_config_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AS_CONFIG", raising=False)
    monkeypatch.delenv("AS_PORT", raising=False)
    monkeypatch.delenv("AS_ADMIN_PASSWORD", raising=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_options_win_over_the_environment_which_wins_over_the_file_over_the_defaults(tmp_path: Path):
    """Issue 17 (configuration file): flags > environment > file > defaults, as docs/configuration.md says."""
    config = write(tmp_path / "as.toml", "port = 9100\naccess_token_ttl = 300\ncode_ttl = 30\ndemo = true\n")

    only_file = from_options(["--config", str(config)], {})
    env_over_file = from_options(["--config", str(config)], {"AS_ACCESS_TOKEN_TTL": "400"})
    option_over_env = from_options(
        ["--config", str(config), "--access-token-ttl", "500"], {"AS_ACCESS_TOKEN_TTL": "400"}
    )

    assert (only_file.port, only_file.access_token_ttl, only_file.code_ttl, only_file.demo) == (9100, 300, 30, True)
    assert only_file.issuer == "http://localhost:9100"  # derived defaults follow the file's values
    assert only_file.session_ttl == 8 * 3600  # untouched settings keep their defaults
    assert env_over_file.access_token_ttl == 400
    assert option_over_env.access_token_ttl == 500


def test_the_file_is_named_by_the_as_config_variable_too(tmp_path: Path):
    """Issue 17: ``AS_CONFIG`` names the file when ``--config`` does not."""
    config = write(tmp_path / "as.toml", 'dynamic_registration = "closed"\n')

    assert from_options([], {"AS_CONFIG": str(config)}).registration_open is False


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("prot = 9100\n", "'prot' is not a setting (did you mean port?)"),
        ('port = "9100"\n', "port must be a whole number, not '9100'"),
        ("port = true\n", "port must be a whole number, not True"),
        ("demo = 1\n", "demo must be true or false, not 1"),
        ('signing_alg = "HS256"\n', "signing_alg must be one of ES256, EdDSA, RS256, not 'HS256'"),
        ("[server]\nport = 1\n", "'server' is not a setting"),
        ("port = \n", "not TOML"),
    ],
)
def test_an_unknown_key_or_a_wrong_type_stops_the_program_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
):
    """Issue 17: an unknown key or a wrong type in the file stops the program with one line, before serving."""
    config = write(tmp_path / "as.toml", text)

    with pytest.raises(SystemExit) as stopped:
        main(["--config", str(config), "--db", str(tmp_path / "as.sqlite3")])

    error = capsys.readouterr().err
    assert stopped.value.code == 2
    assert error.count("\n") == 1
    assert error.startswith(f"authorization_server: configuration file {config}: ")
    assert says in error


def test_a_missing_file_stops_the_program_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Issue 17: a ``--config`` that names no file is refused, not ignored."""
    with pytest.raises(SystemExit):
        main(["--config", str(tmp_path / "absent.toml")])

    absent = tmp_path / "absent.toml"
    assert capsys.readouterr().err == f"authorization_server: configuration file {absent}: No such file or directory\n"


def test_print_config_shows_the_effective_settings_as_toml_with_the_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """Issue 17: ``--print-config`` prints the effective settings as TOML, secrets masked, and reads back."""
    key = "A" * 43  # base64url of 32 octets
    config = write(
        tmp_path / "as.toml",
        f'admin_username = "ops"\nadmin_password = "{SECRET}"\nkey_encryption_key = "{key}"\nport = 9100\n',
    )

    main(["--config", str(config), "--access-token-ttl", "120", "--print-config"])

    printed = capsys.readouterr().out
    assert SECRET not in printed and key not in printed
    assert "# admin_password = (set, masked: a secret; give it by AS_ADMIN_PASSWORD)" in printed
    assert "# key_encryption_key = (set, masked" in printed
    document = tomllib.loads(printed)
    assert (document["port"], document["access_token_ttl"], document["issuer"]) == (9100, 120, "http://localhost:9100")
    assert "admin_password" not in document
    # Read back (the secrets given again by the environment), it is the same configuration.
    again = write(tmp_path / "printed.toml", printed)
    # (main() read os.environ, where the test run may set rate limits: so do both sides here.)
    environ = {**os.environ, "AS_ADMIN_PASSWORD": SECRET, "AS_KEY_ENCRYPTION_KEY": key}
    assert from_options(["--config", str(again)], environ) == from_options(
        ["--config", str(config), "--access-token-ttl", "120"], os.environ
    )


def test_every_secret_setting_is_masked():
    """Issue 17: the settings marked secret in settings.py (left out of the repr) are the ones masked."""
    secrets = {field.name for field in settings_module.fields(settings_module.Settings) if not field.repr}
    filled = settings_module.Settings(**dict.fromkeys(secrets, "x" * 43))

    printed = settings_module.to_toml(filled)

    assert secrets >= {"admin_password", "downstream_token_key", "key_encryption_key"}
    assert "x" * 43 not in printed


def test_every_setting_named_as_a_secret_is_marked_secret():
    """Issue 17 audit (``--print-config`` masks secrets, "including ones added recently"): a setting whose name
    says it holds a password, secret or key is marked ``secret=True``, so that the test above masks it; the
    database URL's password is masked too (``shown``)."""
    words = ("password", "secret", "_key", "token_key")
    named = {
        field.name for field in settings_module.fields(settings_module.Settings) if any(w in field.name for w in words)
    }
    hidden = {field.name for field in settings_module.fields(settings_module.Settings) if not field.repr}

    printed = settings_module.to_toml(settings_module.Settings(db="postgresql://as:pg-password-given@db.example/as"))

    assert named == hidden
    assert "pg-password-given" not in printed


def test_the_documented_table_lists_every_setting_with_its_default_as_the_code_has_it():
    """Issue 17: docs/configuration.md lists every setting with its default; regenerate it with
    ``python -m scripts.configuration_table`` when this fails."""
    text = DOCUMENT.read_text()

    assert text == with_table(text)
    for field in settings_module.fields(settings_module.Settings):
        assert f"| `{field.name}` | `--{field.name.replace('_', '-')}` | `{field.metadata['env']}` |" in text


def test_help_names_the_configuration_file_and_print_config(capsys: pytest.CaptureFixture[str]):
    """Issue 17: --help tells of ``--config`` (and ``AS_CONFIG``) and ``--print-config``."""
    with pytest.raises(SystemExit):
        main(["--help"])

    shown = " ".join(capsys.readouterr().out.split())
    assert "--config PATH" in shown and "env AS_CONFIG" in shown and "--print-config" in shown
