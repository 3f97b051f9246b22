"""Running the client as its users do: ``python client.py --server-url URL ...`` in a subprocess."""

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def run_client(server_url: str, store: Path, *options: str) -> Run:
    """Run the client to its end; ``--headless`` unless told otherwise."""
    return run_command(client_command(server_url, store, *(options or ("--headless",))))


def run_cli(*arguments: str) -> Run:
    """``python client.py ARGUMENTS`` to its end, e.g. ``servers --store PATH``."""
    return run_command([sys.executable, "client.py", *arguments])


def run_command(command: list[str]) -> Run:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    return Run(result.returncode, result.stdout, result.stderr)


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
