"""Servers that run as programs, set up with their command line in-process (docs/testing.md): the same
commands on the same database, without a Python interpreter started for each (about 0.7 s of CPU each)."""

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from scripts.stack import AuthorizationServer, free_port, run_cli_in_process, start_authorization_server

T = TypeVar("T")


def set_up_then_serve(
    workdir: Path, set_up: Callable[[AuthorizationServer], T], *options: str, **start: Any
) -> tuple[AuthorizationServer, T]:
    """A server started as its own program (``python -m authorization_server``) on ``workdir``, after
    ``set_up`` ran its command line on the same database, port and environment in-process: a server a test
    needs as a program, set up without starting an interpreter per command (about 0.7 s each)."""
    start["port"] = start.get("port") or free_port()
    setup = start_authorization_server(workdir, *options, **start, in_process=True)
    try:
        made = set_up(setup)
    finally:
        setup.program.stop()
    return start_authorization_server(workdir, *options, **start), made


class _CommandLineInProcess(AuthorizationServer):
    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = ["-m", "authorization_server", *args, "--db", str(self.db)]
        return run_cli_in_process(argv, input=input, check=check, env=self.env)


def command_line_in_process(server: AuthorizationServer) -> AuthorizationServer:
    """``server`` (a program) whose ``cli`` runs in-process, for a test's setup: the clients, MCP servers and
    users it adds are what the commands add, without an interpreter started for each. The command line as a
    program is test_cli.py's."""
    return _CommandLineInProcess(server.program, server.port, server.db, server.host, server.env)
