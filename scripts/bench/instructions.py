"""Instructions per full flow of each commit's server, counted by valgrind's callgrind (issue 14).

::

    python -m scripts.bench.instructions COMMIT [COMMIT ...] [--flows 120]

CPU time per flow moves with whatever else the machine runs (docs/benchmarks.md, "Noise"); the
instructions a flow executes do not. Each commit's tree is unpacked (``git archive``, as in
``ab.py``) and its server started in demo mode on a fresh SQLite file under callgrind (no cache
simulation); ten flows warm it up, the counters are zeroed, ``--flows`` flows run one after
another (register, authorize, token, refresh, ``scripts/reliability/load.py``), and the counters
are dumped. Printed per commit: the instructions per flow, and those spent executing SQL
statements (``sqlite3.Connection.execute``, SQLite's own work included). Repeated runs of one
commit differ by about 0.5% in the total: a change smaller than that needs more ``--flows``.
Needs ``valgrind``; each commit takes one to two minutes for 120 flows.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from mcp_authz.authorization_server.encryption import local_key
from scripts.bench.ab import LAUNCH, unpack
from scripts.reliability.load import Acknowledged, Target, one_flow
from scripts.stack import UNLIMITED_RATES, free_port

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
    tree = workdir / commit
    if not tree.exists():
        tree.mkdir()
        unpack(commit, tree)
    port = free_port()
    url = f"http://localhost:{port}"
    output = workdir / f"{run}.callgrind"
    env = {**os.environ, **UNLIMITED_RATES, "AS_KEY_ENCRYPTION_KEY": local_key(workdir / "key_encryption_key")}
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={output}", sys.executable, "-c", LAUNCH]
    command += [str(tree), "--port", str(port), "--db", str(workdir / f"{run}.sqlite3"), "--issuer", url]
    command += ["--demo", "--demo-resource", "http://localhost:8000/mcp", "--log-level", "warning"]
    with (workdir / f"{run}.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tree)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                httpx2.get(url + "/jwks.json", timeout=5)
                break
            except httpx2.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((workdir / f"{run}.log").read_text(errors="replace")) from None
                time.sleep(1)
        with httpx2.Client(timeout=120) as http:
            flows(http, Target(url), WARM_UP)
            subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True, capture_output=True)
            flows(http, Target(url), count)
            subprocess.run(["callgrind_control", "--dump=measured", str(server.pid)], check=True, capture_output=True)
    finally:
        server.terminate()
        server.wait(timeout=120)
    dump = next(path for path in workdir.glob(f"{run}.callgrind.*") if "dump measured" in path.read_text()[:2000])
    total = re.search(r"^summary: (\d+)", dump.read_text(), re.MULTILINE)
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", str(dump)], capture_output=True, text=True, check=True
    ).stdout
    sql = next((line.split()[0] for line in annotated.splitlines() if SQL_ENTRY in line), "0")
    assert total is not None
    return int(total.group(1)) / count, int(sql.replace(",", "")) / count


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("commits", nargs="+", help="the commits to count, e.g. a branch's base and its head")
    parser.add_argument("--flows", type=int, default=120, help="measured flows per commit (default 120)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    print("| commit | instructions per flow | of which SQL statements |\n|---|---|---|")
    for run, commit in enumerate(args.commits):
        total, sql = measure(commit, args.flows, workdir, run)
        print(f"| {commit} | {total / 1e6:.3f} M | {sql / 1e6:.3f} M |", flush=True)


if __name__ == "__main__":
    main()
