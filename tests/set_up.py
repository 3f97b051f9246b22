"""A server that must run as a program, set up first in-process (docs/testing.md).

Its command line runs in-process on the same database, port and environment before the program starts:
the same commands, without a Python interpreter started for each (about 0.7 s each).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from scripts.stack import AuthorizationServer, free_port, start_authorization_server

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
