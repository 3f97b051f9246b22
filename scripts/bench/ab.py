"""The full flow and registration on SQLite, this tree's server against an earlier commit's, side by
side (issue 13: the SQLite figures must not get worse; issue 14: decide by measurement): the same
drivers, rounds alternating, CPU time per flow and per registration.

::

    python -m scripts.bench.ab COMMIT [--seconds 10] [--rounds 3] [--connections 32]

The commit's tree is unpacked with ``git archive`` into a temporary folder and its server runs
from there, with this checkout's virtual environment; both on a fresh SQLite file in demo mode.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from scripts.bench.run import CLIENT, TABLE_HEAD, Bench, Endpoints, Target
from scripts.stack import ROOT, UNLIMITED_RATES, AuthorizationServer, Program, start_authorization_server

#: Runs ``python -m authorization_server`` from another tree: ``-m`` would take this checkout's.
LAUNCH = "import runpy, sys; sys.path[0] = sys.argv.pop(1); runpy.run_module('authorization_server', alter_sys=True)"


def unpack(commit: str, folder: Path) -> None:
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)


def from_tree(server: AuthorizationServer, tree: Path, workdir: Path) -> Program:
    """``server``'s command line on a fresh database, run from ``tree`` (after ``server`` is stopped)."""
    assert isinstance(server.program, Program)
    args = list(server.program.args)
    args[args.index("--db") + 1] = str(workdir / "before.sqlite3")
    command = ["-c", LAUNCH, str(tree), *args[2:]]
    return Program(command, workdir / "before.log", server.program.ready_url, server.env)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", help="the earlier commit, e.g. the one of the figures in docs/benchmarks.md")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds of each run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    args = parser.parse_args()
    os.environ.update(UNLIMITED_RATES)
    workdir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    tree = workdir / "tree"
    tree.mkdir()
    unpack(args.commit, tree)
    bench = Bench(args, workdir)
    folders = {name: workdir / name for name in ("now", "before")}
    for folder in folders.values():
        folder.mkdir()
    now = start_authorization_server(folders["now"])
    # The earlier server: this one's command line, on a port of its own, run from the commit's tree.
    earlier = start_authorization_server(folders["before"])
    earlier.program.stop()
    before = from_tree(earlier, tree, folders["before"]).start()
    try:
        bench.say(TABLE_HEAD)
        mine = Endpoints.ours(now)
        theirs = Endpoints.ours(AuthorizationServer(before, earlier.port, earlier.db, earlier.host, earlier.env))
        flows = bench.compare(
            "flows/s",
            (1.0, "no fewer than before"),
            {
                "full flow, SQLite, now": lambda: bench.flow(mine),
                f"full flow, SQLite, {args.commit}": lambda: bench.flow(theirs),
            },
        )
        body = workdir / "client.json"
        body.write_text(json.dumps(CLIENT))
        registrations = bench.compare(
            "req/s",
            (1.0, "no fewer than before"),
            {
                "register, SQLite, now": lambda: bench.wrk(Target(mine.register, mine.pid), body=body),
                f"register, SQLite, {args.commit}": lambda: bench.wrk(Target(theirs.register, theirs.pid), body=body),
            },
        )
        for row in (*flows, *registrations):
            cpu = sorted(measure.cpu_ms for measure in row.rounds)
            rounds = ", ".join(f"{measure.cpu_ms:.2f}" for measure in row.rounds)
            bench.say(f"- {row.name}: CPU ms per unit by round {rounds}; median {statistics.median(cpu):.2f}")
    finally:
        now.program.stop()
        before.stop()


if __name__ == "__main__":
    main()
