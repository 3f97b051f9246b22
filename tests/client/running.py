"""Running the client: ``python client.py --server-url URL ...``, in the test process or as a program.

:func:`run_client` and :func:`run_cli` call the client's entry point, ``client.cli.main``, with the
same arguments on a thread of the test process (issue 12, "A fast test loop": a new interpreter and
the mcp SDK's imports cost about 1.5 s of CPU a run). With ``process=True`` they start
``python client.py`` as its users do, for the tests that are about the program itself: the
end-to-end run, an exit status, what the interpreter adds (warnings, tracebacks on stderr).
"""

import contextlib
import io
import json
import logging
import re
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcp_authz.client.cli import main
from scripts.stack import ROOT

RUN_TIMEOUT = 60
STEP_HEADING = re.compile(r"^== Step (\d)/8 · (\w+) ==$", re.MULTILINE)
REQUEST_LINE = re.compile(r"^ +→ (\w+ [^?\s]+)", re.MULTILINE)


@dataclass(frozen=True)
class Run:
    """A finished run: its exit code and what it printed."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def steps(self) -> list[str]:
        """The step headings printed, in order, e.g. ``["1 discover", "2 metadata", ...]``."""
        return [f"{number} {name}" for number, name in STEP_HEADING.findall(self.stdout)]

    @property
    def requests(self) -> list[str]:
        """The requests the client printed, as ``METHOD URL`` without the query, in order."""
        return REQUEST_LINE.findall(self.stdout)

    def describe(self) -> str:
        return f"exit code {self.exit_code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def client_command(server_url: str, store: Path, *options: str) -> list[str]:
    return [sys.executable, "client.py", "--server-url", server_url, "--store", str(store), *options]


def run_client(server_url: str, store: Path, *options: str, process: bool = False) -> Run:
    """Run the client to its end; ``--headless`` unless told otherwise; ``process``: as a program of its own."""
    command = client_command(server_url, store, *(options or ("--headless",)))
    return run_command(command) if process else run_in_process(command[2:])


def run_cli(*arguments: str, process: bool = False) -> Run:
    """``python client.py ARGUMENTS`` to its end, e.g. ``servers --store PATH``."""
    return run_command([sys.executable, "client.py", *arguments]) if process else run_in_process(list(arguments))


def run_command(command: list[str]) -> Run:
    """The program as its users start it, from the repository's root."""
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    return Run(result.returncode, result.stdout, result.stderr)


#: One in-process run at a time: its output is the process's sys.stdout and sys.stderr while it runs.
_in_process = threading.Lock()


def run_in_process(arguments: list[str]) -> Run:
    """``python client.py ARGUMENTS`` without a new interpreter: ``main(arguments)`` on a thread of its own.

    As the interpreter would: its exit status is what ``main`` returns or the ``SystemExit`` it raises
    (argparse's usage errors), 1 with the traceback on stderr for an exception that escapes it; its
    output is what it wrote to sys.stdout and sys.stderr. On a thread, ``asyncio.run`` gets a loop of
    its own and installs no SIGINT handler. The NullHandler ``main`` adds to the root logger each run
    is taken away after it, so runs do not pile them up. A run still going after ``RUN_TIMEOUT``
    fails the test, as the process's ``TimeoutExpired`` did.
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    exit_code = 0

    def run() -> None:
        nonlocal exit_code
        try:
            exit_code = main(arguments)
        except SystemExit as exc:
            exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except BaseException:
            exit_code = 1
            traceback.print_exc(file=sys.stderr)

    root = logging.getLogger()
    before = list(root.handlers)
    thread = threading.Thread(target=run, name="python client.py", daemon=True)
    with _in_process, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            thread.start()
            thread.join(RUN_TIMEOUT)
        finally:
            for handler in [handler for handler in root.handlers if handler not in before]:
                root.removeHandler(handler)
    if thread.is_alive():
        pytest.fail(
            f"python client.py {' '.join(arguments)} still running after {RUN_TIMEOUT} s\n"
            f"--- stdout\n{stdout.getvalue()}\n--- stderr\n{stderr.getvalue()}"
        )
    return Run(exit_code, stdout.getvalue(), stderr.getvalue())


def read_store(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def assert_tokens_masked(output: str, store: Path, resource: str, issuer: str) -> None:
    """CL-28: the tokens held in ``store`` appear in ``output`` only masked, as their first 6 characters and "…"."""
    held = read_store(store)["tokens"][resource][issuer]
    assert held["access_token"] not in output
    assert held["refresh_token"] not in output
    assert f"{held['refresh_token'][:6]}…" in output


def edit_store(path: Path, change: Any) -> None:
    """Apply ``change(document)`` to the store file, as a user with an editor would."""
    document = read_store(path)
    change(document)
    path.write_text(json.dumps(document))
