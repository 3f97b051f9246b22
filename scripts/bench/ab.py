"""The full flow and registration on SQLite, this tree's server against an earlier commit's, side by
side (issue 13: the SQLite figures must not get worse; issue 14: decide by measurement): the same
drivers, rounds alternating, CPU time per flow and per registration.

::

    python -m scripts.bench.ab COMMIT [--seconds 10] [--rounds 3] [--connections 32]
    python -m scripts.bench.ab COMMIT [COMMIT ...] --documents [--seconds 4] [--rounds 8]

The commit's tree is unpacked with ``git archive`` into a temporary folder and its server runs
from there, with this checkout's virtual environment; both on a fresh SQLite file in demo mode.

With ``--documents``, instead: the demo MCP server's metadata and the JWK Set of this tree's server
and of each commit's, and the bare Starlette ceiling (``ceiling.py``), all alternating under wrk,
each round's server CPU time per request beside its rate, and "by CPU" paired round by round
(issue 14's "metadata and JWKS ≥ 0.8 x the ceiling").
"""

import argparse
import functools
import json
import os
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from scripts.bench.run import CLIENT, TABLE_HEAD, Bench, Endpoints, Measure, Row, Target
from scripts.stack import ROOT, UNLIMITED_RATES, AuthorizationServer, Program, free_port, start_authorization_server

#: Runs ``python -m authorization_server`` from another tree: ``-m`` would take this checkout's. A
#: commit from before ``--http-stack`` (decision 0052) left uvicorn's loop and parser to "auto", which
#: picks uvloop and httptools now that the dev extras install them: ``uvicorn.run`` gets asyncio and
#: h11 unless the caller chose, so both sides run the stack our server runs by default.
LAUNCH = (
    "import runpy, sys, uvicorn; sys.path[0] = sys.argv.pop(1); run = uvicorn.run; "
    "uvicorn.run = lambda app, **options: run(app, **{'loop': 'asyncio', 'http': 'h11', **options}); "
    "runpy.run_module('authorization_server', alter_sys=True)"
)


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


def start_earlier(commit: str, workdir: Path) -> tuple[Program, Endpoints]:
    """``commit``'s server in demo mode: this one's command line, on a port of its own, run from the commit's tree."""
    folder, tree = workdir / f"before-{commit}", workdir / f"tree-{commit}"
    folder.mkdir()
    tree.mkdir()
    unpack(commit, tree)
    earlier = start_authorization_server(folder)
    earlier.program.stop()
    before = from_tree(earlier, tree, folder).start()
    return before, Endpoints.ours(AuthorizationServer(before, earlier.port, earlier.db, earlier.host, earlier.env))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "commits",
        nargs="+",
        metavar="COMMIT",
        help="the earlier commit, e.g. the one of the figures in docs/benchmarks.md (several with --documents)",
    )
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds of each run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument(
        "--documents", action="store_true", help="metadata and JWKS of each, and the ceiling, instead of flows"
    )
    args = parser.parse_args()
    if len(args.commits) > 1 and not args.documents:
        parser.error("one COMMIT, unless --documents")
    os.environ.update(UNLIMITED_RATES)
    workdir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    bench = Bench(args, workdir)
    (workdir / "now").mkdir()
    now = start_authorization_server(workdir / "now")
    programs = [now.program]
    try:
        mine = Endpoints.ours(now)
        earlier = {}
        for commit in args.commits:
            program, earlier[commit] = start_earlier(commit, workdir)
            programs.append(program)
        bench.say(TABLE_HEAD)
        if args.documents:
            documents(bench, {"now": mine, **earlier}, workdir)
            return
        (commit,) = args.commits
        theirs = earlier[commit]
        flows = bench.compare(
            "flows/s",
            (1.0, "no fewer than before"),
            {
                "full flow, SQLite, now": lambda: bench.flow(mine),
                f"full flow, SQLite, {commit}": lambda: bench.flow(theirs),
            },
        )
        body = workdir / "client.json"
        body.write_text(json.dumps(CLIENT))
        registrations = bench.compare(
            "req/s",
            (1.0, "no fewer than before"),
            {
                "register, SQLite, now": lambda: bench.wrk(Target(mine.register, mine.pid), body=body),
                f"register, SQLite, {commit}": lambda: bench.wrk(Target(theirs.register, theirs.pid), body=body),
            },
        )
        by_round(bench, [*flows, *registrations])
    finally:
        for program in programs:
            program.stop()


def by_round(bench: Bench, rows: list[Row], digits: int = 2) -> None:
    """Each row's CPU time per unit, round by round, and their median."""
    for row in rows:
        cpu = sorted(measure.cpu_ms for measure in row.rounds)
        rounds = ", ".join(f"{measure.cpu_ms:.{digits}f}" for measure in row.rounds)
        bench.say(f"- {row.name}: CPU ms per unit by round {rounds}; median {statistics.median(cpu):.{digits}f}")


def documents(bench: Bench, servers: dict[str, Endpoints], workdir: Path) -> None:
    """Metadata and JWKS of each server, and the bare Starlette ceiling, alternating under wrk."""
    port = free_port()
    ceiling = Program(
        ["-m", "scripts.bench.ceiling", "--port", str(port)], workdir / "ceiling.log", f"http://127.0.0.1:{port}/"
    )
    ceiling.start()
    try:
        runs: dict[str, Callable[[], Measure]] = {}
        for name, endpoints in servers.items():
            jwks = endpoints.metadata.split("/.well-known/")[0] + "/jwks.json"
            runs[f"metadata, {name}"] = functools.partial(bench.wrk, Target(endpoints.metadata, endpoints.pid))
            runs[f"JWKS, {name}"] = functools.partial(bench.wrk, Target(jwks, endpoints.pid))
        assert ceiling.process is not None
        runs["bare Starlette JSON"] = functools.partial(
            bench.wrk, Target(f"http://127.0.0.1:{port}/", ceiling.process.pid)
        )
        rows = bench.alternate("req/s", runs)
        for name in runs:
            if name != "bare Starlette JSON":
                bench.ratio(name, "bare Starlette JSON", (0.8, f"{name} ≥ 0.8 x the bare Starlette ceiling"))
        by_round(bench, rows, digits=3)
    finally:
        ceiling.stop()


if __name__ == "__main__":
    main()
