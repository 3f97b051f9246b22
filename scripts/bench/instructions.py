"""Instructions per full flow of each commit's server, counted by valgrind's callgrind (issue 14).

::

    python -m scripts.bench.instructions COMMIT [COMMIT ...] [--flows 120]
    python -m scripts.bench.instructions COMMIT [COMMIT ...] --documents 2000

CPU time per flow moves with whatever else the machine runs (docs/benchmarks.md, "Noise"); the
instructions a flow executes do not. Each commit's tree is unpacked (``git archive``, as in
``ab.py``) and its server started in demo mode on a fresh SQLite file under callgrind (no cache
simulation); ten flows warm it up, the counters are zeroed, ``--flows`` flows run one after
another (register, authorize, token, refresh, ``scripts/reliability/load.py``), and the counters
are dumped. Printed per commit: the instructions per flow, and those spent executing SQL
statements (``sqlite3.Connection.execute``, SQLite's own work included). Repeated runs of one
commit differ by about 0.5% in the total: a change smaller than that needs more ``--flows``.
Needs ``valgrind``; each commit takes one to two minutes for 120 flows.

With ``--documents N`` it counts, instead of flows, N requests to the demo MCP server's metadata
(RFC 8414 §3.1) and N to the JWK Set, one after another on one connection, each commit's server
at its default log level (one access-log line per request, as ``make bench`` runs it), and N to
the bare Starlette ceiling (``ceiling.py``): the instructions per request of each, the figure
behind the "metadata and JWKS ≥ 0.8 x the ceiling" target that the machine's load does not move.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from mcp_authz.authorization_server.encryption import local_key
from scripts.bench.ab import LAUNCH, unpack
from scripts.reliability.load import Acknowledged, Target, one_flow
from scripts.stack import ROOT, UNLIMITED_RATES, free_port

#: The function of the ``_sqlite3`` module every statement goes through (``Connection.execute``).
SQL_ENTRY = "connection.c:pysqlite_connection_execute"
#: Warm-up flows before the counters are zeroed: caches filled, signing keys loaded.
WARM_UP = 10


def flows(http: httpx2.Client, target: Target, count: int) -> None:
    seen = Acknowledged()
    for _ in range(count):
        one_flow(http, target, seen)
    if not set(seen.statuses) <= {200, 201, 302, 303}:
        raise RuntimeError(f"a flow failed: {dict(seen.statuses)}")


def measure(commit: str, count: int, workdir: Path, run: int) -> tuple[float, float]:
    """(instructions, of which SQL statements) per flow of ``commit``'s server; ``run`` names its files."""
    command, tree = _server_command(commit, workdir, run, "--log-level", "warning")
    with _under_callgrind(command, tree, workdir, run) as server, httpx2.Client(timeout=120) as http:
        flows(http, Target(server.url), WARM_UP)
        dump = server.count("measured", lambda: flows(http, Target(server.url), count))
    return dump.total / count, dump.inclusive(SQL_ENTRY) / count


def documents(commit: str, count: int, workdir: Path, run: int) -> dict[str, float]:
    """Instructions per request of ``commit``'s server for the demo MCP server's metadata and for
    the JWK Set, ``count`` each, at its default log level."""
    with _under_callgrind(*_server_command(commit, workdir, run), workdir, run) as server:
        paths = {"metadata": METADATA, "JWKS": "/jwks.json"}
        return {name: server.count_gets(path, count) for name, path in paths.items()}


def ceiling(count: int, workdir: Path, run: int) -> float:
    """Instructions per request of the bare Starlette endpoint (``ceiling.py``), from this checkout."""
    command = [sys.executable, "-m", "scripts.bench.ceiling", "--port", "{port}"]
    with _under_callgrind(command, ROOT, workdir, run) as server:
        return server.count_gets("/", count)


#: The demo MCP server's metadata (RFC 8414 §3.1 path insertion), as ``make bench`` loads it.
METADATA = "/.well-known/oauth-authorization-server/mcp/demo"


def _server_command(commit: str, workdir: Path, run: int, *options: str) -> tuple[list[str], Path]:
    """``commit``'s authorization server in demo mode on a fresh SQLite file, and its tree (unpacked once)."""
    tree = workdir / commit
    if not tree.exists():
        tree.mkdir()
        unpack(commit, tree)
    command = [sys.executable, "-c", LAUNCH, str(tree), "--port", "{port}", "--issuer", "{url}"]
    command += ["--db", str(workdir / f"{run}.sqlite3"), "--demo", "--demo-resource", "http://localhost:8000/mcp"]
    return [*command, *options], tree


@dataclass(frozen=True)
class Dump:
    """One callgrind dump: its total, and the inclusive count of a function by its name."""

    path: Path
    total: int

    def inclusive(self, function: str) -> int:
        annotated = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", str(self.path)], capture_output=True, text=True, check=True
        ).stdout
        found = next((line.split()[0] for line in annotated.splitlines() if function in line), "0")
        return int(found.replace(",", ""))


@dataclass(frozen=True)
class Counted:
    """A server running under callgrind, and a way to count the instructions of a load."""

    url: str
    pid: int
    workdir: Path
    run: int

    def count(self, name: str, load: Callable[[], None]) -> Dump:
        """The instructions the server executes while ``load`` runs: counters zeroed, then dumped as ``name``."""
        subprocess.run(["callgrind_control", "--zero", str(self.pid)], check=True, capture_output=True)
        load()
        subprocess.run(["callgrind_control", f"--dump={name}", str(self.pid)], check=True, capture_output=True)
        path = next(p for p in self.workdir.glob(f"{self.run}.callgrind.*") if f"dump {name}\n" in p.read_text()[:2000])
        total = re.search(r"^summary: (\d+)", path.read_text(), re.MULTILINE)
        assert total is not None
        return Dump(path, int(total.group(1)))

    def count_gets(self, path: str, count: int) -> float:
        """Instructions per request of ``count`` GETs of ``path``, one after another on one connection."""

        def gets(number: int) -> None:
            for _ in range(number):
                http.get(self.url + path).raise_for_status()

        with httpx2.Client(timeout=120) as http:
            gets(WARM_UP)
            return self.count(path.strip("/").replace("/", "_") or "root", lambda: gets(count)).total / count


@contextmanager
def _under_callgrind(command: list[str], cwd: Path, workdir: Path, run: int) -> Iterator[Counted]:
    """``command`` (``{port}`` and ``{url}`` filled in) under callgrind, no cache simulation, once it
    answers on its port; stopped after."""
    port = free_port()
    url = f"http://localhost:{port}"
    output = workdir / f"{run}.callgrind"
    env = {**os.environ, **UNLIMITED_RATES, "AS_KEY_ENCRYPTION_KEY": local_key(workdir / "key_encryption_key")}
    arguments = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={output}"]
    arguments += [argument.replace("{port}", str(port)).replace("{url}", url) for argument in command]
    with (workdir / f"{run}.log").open("wb") as log:
        server = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                httpx2.get(url + "/", timeout=5)
                break
            except httpx2.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((workdir / f"{run}.log").read_text(errors="replace")) from None
                time.sleep(1)
        yield Counted(url, server.pid, workdir, run)
    finally:
        server.terminate()
        server.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("commits", nargs="+", help="the commits to count, e.g. a branch's base and its head")
    parser.add_argument("--flows", type=int, default=120, help="measured flows per commit (default 120)")
    parser.add_argument(
        "--documents",
        type=int,
        metavar="N",
        help="instead of flows: N metadata and N JWKS requests per commit, and N to the bare Starlette ceiling",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    if args.documents:
        count = args.documents
        print("| server | metadata per request | JWKS per request | the ceiling's over each |\n|---|---|---|---|")
        runs = enumerate(args.commits)
        top = ceiling(count, workdir, len(args.commits))
        for run, commit in runs:
            counted = documents(commit, count, workdir, run)
            ratio = " / ".join(f"{top / counted[name]:.2f}" for name in ("metadata", "JWKS"))
            print(f"| {commit} | {counted['metadata']:,.0f} | {counted['JWKS']:,.0f} | {ratio} |", flush=True)
        print(f"| bare Starlette JSON (ceiling) | {top:,.0f} | {top:,.0f} | 1 |")
        return
    print("| commit | instructions per flow | of which SQL statements |\n|---|---|---|")
    for run, commit in enumerate(args.commits):
        total, sql = measure(commit, args.flows, workdir, run)
        print(f"| {commit} | {total / 1e6:.3f} M | {sql / 1e6:.3f} M |", flush=True)


if __name__ == "__main__":
    main()
