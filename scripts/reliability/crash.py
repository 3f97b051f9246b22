"""Kill -9 the authorization server under load, restart it on the same database, check it kept its word.

Issue 6, reliability: after each crash ``PRAGMA integrity_check`` is "ok", every registration
the server answered 201 is there, every refresh token it answered 200 still refreshes (or, when
the crash swallowed the answer to its refresh, gives a clear ``invalid_grant``), and every flow
caught half-way completes or fails with ``invalid_grant``; the log has no traceback and no
"database is locked". Run it from the repository root::

    .venv/bin/python -m scripts.reliability.crash --cycles 5 --workers 16 --seconds 3
"""

import argparse
import sys
import tempfile
import threading
from pathlib import Path

from scripts.reliability.load import Acknowledged, Target, Verdict, check, run
from scripts.stack import UNLIMITED_RATES, AuthorizationServer, start_authorization_server

LOG_ALARMS = ("Traceback", "database is locked")


def crash_cycle(server: AuthorizationServer, *, workers: int, seconds: float) -> tuple[Acknowledged, Verdict]:
    """Load the server, SIGKILL it after ``seconds``, restart it on the same database and port, check."""
    process = server.program.process
    assert process is not None
    killer = threading.Timer(seconds, process.kill)
    killer.start()
    target = Target(server.url)
    seen = run(target, workers=workers)
    killer.join()
    process.wait()
    alarms_before = [alarm for alarm in LOG_ALARMS if alarm in server.program.log()]
    server.program.start()
    verdict = check(target, server.db, seen)
    alarms_after = [alarm for alarm in LOG_ALARMS if alarm in server.program.log()]
    assert not (alarms_before or alarms_after), (alarms_before, alarms_after)
    return seen, verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=5, help="crash and restart this many times")
    parser.add_argument("--workers", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=3.0, help="load before each kill -9")
    parser.add_argument("--workdir", type=Path, help="where the database and log go (a temporary folder)")
    options = parser.parse_args()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="as-crash-"))
    server = start_authorization_server(workdir, env=UNLIMITED_RATES)  # every client comes from one address
    failed = 0
    try:
        for cycle in range(1, options.cycles + 1):
            seen, verdict = crash_cycle(server, workers=options.workers, seconds=options.seconds)
            failed += not verdict.ok
            print(
                f"cycle {cycle}: answered {dict(sorted(seen.statuses.items()))};"
                f" acknowledged {len(seen.client_ids)} registrations, {len(seen.refresh_tokens)} refresh tokens;"
                f" integrity {verdict.integrity}; missing clients {verdict.missing_clients},"
                f" missing refresh tokens {verdict.missing_refresh_tokens};"
                f" refreshed after restart {dict(verdict.refreshes)}, maybe rotated {dict(verdict.maybe_rotated)};"
                f" half-way codes {dict(verdict.pending_codes)} -> {'ok' if verdict.ok else 'FAILED'}",
                flush=True,
            )
    finally:
        server.program.stop()
    print(f"{options.cycles - failed}/{options.cycles} crash cycles ok; database and log in {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
