"""Servers whose database is prepared once per module and copied for each test (docs/testing.md).

A test that needs an MCP server and a user already added gets a server of its own on a copy of a
database prepared once with the same command line runs: a file copy instead of the runs, and above
all instead of hashing the user's password again (scrypt, about half a second of CPU,
authorization_server/accounts/passwords.py). What each test sees is what the runs leave: the same
rows, its own server, its own database and log.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.conftest import NOTES_RUNS


def prepare(workdir: Path, runs: list[tuple[list[str], str | None]]) -> Path:
    """A server's working directory (database, key file) after ``runs`` (arguments, input) of its command line."""
    server = start_authorization_server(workdir, demo=False, in_process=True)
    try:
        for args, given in runs:
            server.cli(*args, input=given)
    finally:
        server.program.stop()
    return workdir


def start_copy(prepared: Path, workdir: Path, request: pytest.FixtureRequest) -> AuthorizationServer:
    """A server on a copy of ``prepared``'s database and key, started as ``fresh_as`` starts one: its
    ``as_options`` marker's options, in-process unless marked ``real_process`` or run with ``--real-processes``."""
    for path in prepared.iterdir():
        if path.name.startswith("authorization_server.sqlite3") or path.name == "key_encryption_key":
            shutil.copy2(path, workdir / path.name)
    marker = request.node.get_closest_marker("as_options")
    in_process = request.node.get_closest_marker("real_process") is None and not request.config.getoption(
        "real_processes"
    )
    return start_authorization_server(workdir, *(marker.args if marker else ()), demo=False, in_process=in_process)


def started_copy(prepared: Path, workdir: Path, request: pytest.FixtureRequest) -> Iterator[AuthorizationServer]:
    """:func:`start_copy` for a fixture: the server, stopped after the test."""
    server = start_copy(prepared, workdir, request)
    yield server
    server.program.stop()


@pytest.fixture(name="notes_prepared", scope="module")
def _notes_prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare(tmp_path_factory.mktemp("notes_prepared"), NOTES_RUNS)


@pytest.fixture(name="notes_as")
def _notes_as(notes_prepared: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AuthorizationServer]:
    """``notes_as`` on a copy: a server without demo mode, with the ``notes`` MCP server and alice."""
    yield from started_copy(notes_prepared, tmp_path, request)
