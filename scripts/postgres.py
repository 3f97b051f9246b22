"""A throwaway PostgreSQL cluster for the tests and the benchmarks (issue 13).

``initdb`` into a temporary directory, ``postgres`` on a free loopback port, removed again by
:meth:`ThrowawayCluster.stop`. initdb refuses to run as root, so as root the cluster is made and
run as the ``postgres`` user (Debian's package creates it). The binaries are found in
``/usr/lib/postgresql/<major>/bin`` (Debian) or on ``PATH``; ``make test`` installs Debian's
``postgresql`` package when none is there.
"""

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from scripts.stack import free_port


def postgres_bin() -> Path:
    """The directory of ``initdb`` and ``postgres``: Debian's newest version, else ``PATH``'s."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    if found is None:
        raise RuntimeError("PostgreSQL is not installed (initdb not found): apt-get install postgresql")
    return Path(found).parent


class ThrowawayCluster:
    """A PostgreSQL server of its own, on 127.0.0.1, trusting local connections as ``postgres``."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="as-postgres-"))
        self.port = free_port()
        self._bin = postgres_bin()
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        data = self.directory / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.directory}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._options = options.split()
        self._server = self._popen("postgres", "-D", str(data), *self._options)
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self._bin / program), *args]
        if self._user is not None:
            return ["runuser", "-u", self._user, "--", *command]
        return command

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(self._command(program, *args), check=True, capture_output=True, cwd=self.directory)

    def _popen(self, program: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.directory / "server.log", "ab") as log:  # the child keeps a descriptor of its own
            return subprocess.Popen(
                self._command(program, *args), stdout=log, stderr=subprocess.STDOUT, cwd=self.directory
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self._bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
            )
            if ready.returncode == 0:
                return
            if self._server.poll() is not None:
                raise RuntimeError(f"postgres stopped: {(self.directory / 'server.log').read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("postgres did not start within 30 s")

    def halt(self) -> None:
        """Stop the server as an operator would, ``pg_ctl stop -m fast`` (sessions ended, transactions rolled
        back), keeping its data for :meth:`resume`."""
        self._run("pg_ctl", "stop", "-D", str(self.directory / "data"), "-m", "fast", "-w")
        self._server.wait()

    def resume(self) -> None:
        """Start the halted server again, on the same port and data."""
        self._server = self._popen("postgres", "-D", str(self.directory / "data"), *self._options)
        self._wait_ready()

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if self._server.poll() is None:
            self._server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._server.wait(timeout=30)
            if self._server.poll() is None:
                self._server.kill()
                self._server.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[ThrowawayCluster]:
    cluster = ThrowawayCluster()
    try:
        yield cluster
    finally:
        cluster.stop()
