"""The in-process runner (tests/client/running.py) says what ``python client.py`` says (issue 12, "A fast test loop").

Most client tests call ``client.cli.main`` on a thread of the test process instead of starting the
program; these runs, made both ways, show that the exit status, stdout and stderr are the same.
"""

import socket
import threading
from pathlib import Path

import pytest

from scripts.stack import free_port
from tests.client import running
from tests.client.running import run_cli, run_client


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(["--client-secret", "s3cret"], id="a usage error of main, exit 2"),
        pytest.param(["--headless", "--no-browser"], id="a usage error of argparse (SystemExit), exit 2"),
    ],
)
def test_a_failure_is_the_same_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str]) -> None:
    """Exit status, stdout and the one line on stderr, in-process as in a process.

    Among the slowest of tests/client/: each case starts ``python client.py`` once, to compare.
    """
    monkeypatch.setenv("COLUMNS", "80")  # argparse's usage is as wide as the terminal
    url = f"http://127.0.0.1:{free_port()}/mcp"
    in_process, program = (run_client(url, tmp_path / "store.json", *options, process=p) for p in (False, True))
    assert in_process.exit_code != 0, in_process.describe()
    assert in_process == program


def test_servers_is_the_same_in_process(tmp_path: Path) -> None:
    """``python client.py servers`` of an empty store: the same lines, exit status 0 (one program started)."""
    store = str(tmp_path / "store.json")
    in_process, program = (run_cli("servers", "--store", store, process=p) for p in (False, True))
    assert in_process.exit_code == 0, in_process.describe()
    assert in_process == program


def test_a_run_that_hangs_fails_the_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run still going after RUN_TIMEOUT fails the test with what it printed, as the process's timeout did."""
    monkeypatch.setattr(running, "RUN_TIMEOUT", 0.5)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"
        printed = r"(?s)still running after 0\.5 s\n--- stdout\n.*== Step 1/8 · discover =="
        with pytest.raises(pytest.fail.Exception, match=printed):
            run_client(url, tmp_path / "store.json")
    hung = [thread for thread in threading.enumerate() if thread.name == "python client.py"]
    for thread in hung:  # the closed socket ends its request
        thread.join(running.RUN_TIMEOUT * 20)
    assert not any(thread.is_alive() for thread in hung)
