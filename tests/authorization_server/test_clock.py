"""One clock (issue 12, docs/conventions/entities.md "Identifiers, time, secrets").

``clock.py`` is the only module of the authorization server that reads the time, so a test that
freezes it and moves it on with ``clock.advance`` moves every time the server acts on: the
``iat`` and ``exp`` of the access tokens it signs (RFC 9068 §2.2), its rate limit buckets (RFC
6585 §4) and its sign-in locks, without sleeping.
"""

import ast
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.accounts.lockout import LoginLockout
from mcp_authz.authorization_server.db import Database
from mcp_authz.authorization_server.errors import TooManyRequests
from mcp_authz.authorization_server.settings import Rate
from mcp_authz.authorization_server.tokens import access_tokens
from mcp_authz.authorization_server.tokens.entities import Grant
from mcp_authz.authorization_server.web.rate_limits import Limiter

NEW_YEAR = datetime(2030, 1, 1, tzinfo=UTC)


class TestFrozenTime:
    def test_frozen_time_stands_still_and_advance_moves_both_clocks_alike(self):
        """Issue 12: inside ``clock.frozen`` the wall clock and the monotonic clock stop; ``advance`` moves both."""
        with clock.frozen(NEW_YEAR):
            start = clock.monotonic()
            assert clock.now() == NEW_YEAR == clock.now()
            assert clock.timestamp() == NEW_YEAR.timestamp()

            clock.advance(90.5)

            assert clock.now() == NEW_YEAR + timedelta(seconds=90.5)
            assert clock.timestamp() == NEW_YEAR.timestamp() + 90.5
            assert clock.monotonic() == start + 90.5
            assert clock.later(60) == NEW_YEAR + timedelta(seconds=150.5)

    def test_time_runs_again_after_the_block(self):
        """Issue 12: a frozen clock does not outlive its ``with`` block, even one that raised."""
        with pytest.raises(ZeroDivisionError), clock.frozen(NEW_YEAR):
            _ = 1 / 0

        assert abs(clock.timestamp() - time.time()) < 5
        assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
        assert abs(clock.monotonic() - time.monotonic()) < 5

    def test_the_test_helpers_refuse_what_would_leave_time_wrong(self):
        """Issue 12: ``advance`` only inside ``frozen`` and forward; one ``frozen`` at a time, at an aware time."""
        with pytest.raises(RuntimeError):
            clock.advance(1)
        with pytest.raises(ValueError):
            clock.frozen(datetime(2030, 1, 1)).__enter__()  # naive on purpose
        with clock.frozen():
            with pytest.raises(ValueError):
                clock.advance(-1)
            with pytest.raises(RuntimeError), clock.frozen():
                pass


class _RecordingKeys:
    """Stands in for the key set: keeps the payload it was asked to sign."""

    def __init__(self) -> None:
        self.payload: dict[str, Any] = {}

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        self.payload = claims
        return "signed"


class TestWhatFollowsTheClock:
    def test_an_access_tokens_iat_and_exp_come_from_the_clock(self):
        """RFC 9068 §2.2 (RFC 7519 §4.1.4, §4.1.6): ``iat`` is the clock's time at minting, ``exp`` ``ttl`` later."""
        keys = _RecordingKeys()
        grant = Grant("jrn_1", "http://localhost:9000", "c", "usr_1", (), "http://localhost:8000/mcp")

        with clock.frozen(NEW_YEAR):
            access_tokens.mint(keys, grant, ttl=300)  # type: ignore[arg-type]

        assert keys.payload["iat"] == int(NEW_YEAR.timestamp())
        assert keys.payload["exp"] == int(NEW_YEAR.timestamp()) + 300

    def test_a_rate_limit_bucket_refills_as_the_clock_moves(self):
        """RFC 6585 §4: a 429 says when to retry; once the clock got there, the request is let through."""
        with clock.frozen():
            limiter = Limiter(Rate(2, 60), "requests")
            limiter.take("198.51.100.9")
            limiter.take("198.51.100.9")
            with pytest.raises(TooManyRequests) as refused:
                limiter.take("198.51.100.9")

            clock.advance(refused.value.retry_after)

            limiter.take("198.51.100.9")

    @pytest.mark.anyio
    async def test_a_sign_in_lock_lifts_when_the_clock_passes_it(self, tmp_path: Path):
        """OAuth 2.1 §7.2 (issue 11 item 9): a locked username signs in again once its lock is over."""
        db = await Database.open(tmp_path / "as.db")
        lockout = LoginLockout(failures=2, window=900, duration=900)
        try:
            with clock.frozen():
                await db.run(lambda tx: lockout.failed(tx, "alice", "203.0.113.7"))
                await db.run(lambda tx: lockout.failed(tx, "alice", "203.0.113.7"))
                locked = await db.run(lambda tx: lockout.wait(tx, "alice", "203.0.113.7"))

                clock.advance(900)

                lifted = await db.run(lambda tx: lockout.wait(tx, "alice", "203.0.113.7"))
            assert (locked, lifted) == (900, 0)
        finally:
            await db.close()


#: What reads a clock (``time.perf_counter``, which only measures, is left out: it decides nothing), and the
#: event loop's own clock (``loop.time()``).
CLOCK_READS = (
    {("time", name) for name in ("time", "time_ns", "monotonic", "monotonic_ns")}
    | {(owner, name) for owner in ("datetime", "date") for name in ("now", "utcnow", "today")}
    | {("loop", "time")}
)
#: The readings left to another clock, each with its reason (docs/conventions/entities.md, "Left out"):
#: the deadlines of waits that asyncio itself times, on the event loop's clock as its ``sleep`` and
#: ``timeout_at`` are: db.py's unit waiting for another connection's write lock (``--db-timeout``), app.py's
#: request body (``--body-timeout``, ``asyncio.timeout_at``). A frozen ``clock`` must not stop them.
OTHER_CLOCKS = {"db.py loop.time", "app.py loop.time"}


def test_no_module_but_clock_reads_the_time():
    """Issue 12 (docs/conventions/entities.md): every reading of the wall clock, the monotonic clock or the event
    loop's clock is clock.py's, but the one left to the loop's clock on purpose (``OTHER_CLOCKS``)."""
    package = Path(__file__).resolve().parents[2] / "authorization_server"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "clock.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                read = (node.value.id, node.attr)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call) and node.attr == "time":
                called = node.value.func
                loop = isinstance(called, ast.Attribute) and called.attr in ("get_running_loop", "get_event_loop")
                read = ("loop", "time") if loop else ("", "")  # asyncio.get_running_loop().time()
            elif isinstance(node, ast.ImportFrom) and node.module == "time":
                read = next((("time", a.name) for a in node.names if ("time", a.name) in CLOCK_READS), ("", ""))
            else:
                continue
            if read in CLOCK_READS and f"{path.relative_to(package)} {'.'.join(read)}" not in OTHER_CLOCKS:
                found.append(f"{path.relative_to(package)}:{node.lineno} {'.'.join(read)}")

    assert found == []


class TestStoredTimeText:
    @pytest.mark.parametrize(
        "moment",
        [
            datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC),
            datetime(2026, 12, 3, 12, 0, 0, 1, tzinfo=UTC),
            datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(1, 1, 1, 0, 0, 0, 5, tzinfo=UTC),
            datetime(2026, 12, 3, 13, 30, 5, 250000, tzinfo=timezone(timedelta(hours=1, minutes=30))),
        ],
        ids=["whole-second", "one-microsecond", "year-end", "year-one", "other-offset"],
    )
    def test_to_db_writes_what_isoformat_wrote(self, moment: datetime) -> None:
        """Issue 14 (application layer): the stored text, cached per second, is ISO 8601 in UTC as before."""
        expected = moment.astimezone(UTC).isoformat(timespec="microseconds")
        assert clock.to_db(moment) == expected
        assert clock.to_db(moment) == expected  # the second's text kept from the call before
        assert clock.from_db(clock.to_db(moment)) == moment

    def test_to_db_follows_the_seconds_as_they_change(self) -> None:
        """Issue 14: the text kept for one second is never reused for another, either way in time."""
        start = datetime(2030, 1, 1, 23, 59, 58, 999999, tzinfo=UTC)
        steps = (0, 1, 2, 1_000_001, 0, 2_000_002, 86_400_000_000, 1, 30 * 86_400_000_000)
        moments = [start + timedelta(microseconds=step) for step in steps]
        assert [clock.to_db(moment) for moment in moments] == [m.isoformat(timespec="microseconds") for m in moments]

    def test_to_db_stays_right_past_the_seconds_it_keeps(self) -> None:
        """Issue 14: after more distinct seconds than it keeps, the text is still each moment's own."""
        start = datetime(2031, 6, 1, tzinfo=UTC)
        moments = [start + timedelta(seconds=second, microseconds=second) for second in range(600)]
        assert [clock.to_db(moment) for moment in moments] == [m.isoformat(timespec="microseconds") for m in moments]
