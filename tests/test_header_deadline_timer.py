"""The header deadline's timer (shared/http_deadlines.py) on a clock of the test's own: issue 11 item 13's
deadline, kept at one timer per connection for issue 14 (a timer armed and cancelled at every request was
4% of a metadata request's instructions). The end-to-end behaviour (408, close) is in tests/*/test_edge_timeouts.py.
"""

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from mcp_authz.shared.http_deadlines import _HeaderDeadline


class Timer:
    """What the deadline uses of an ``asyncio.TimerHandle``: ``cancel``."""

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """The loop's ``time``, ``call_at`` and ``call_later``, on a time the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.armed: list[Timer] = []
        self.timers_made = 0

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        self.timers_made += 1
        self.armed.append(timer := Timer(when, callback))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.now + delay, callback)

    def advance(self, to: float) -> None:
        """Move to ``to``, firing each live timer due by then, in order."""
        while due := sorted((t for t in self.armed if not t.cancelled and t.when <= to), key=lambda t: t.when):
            self.armed.remove(timer := due[0])
            self.now = timer.when
            timer.callback()
        self.now = to


class Transport:
    def __init__(self) -> None:
        self.closed = False
        self.written = b""

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def write(self, data: bytes) -> None:
        self.written += data


class Protocol:
    """What the deadline needs of uvicorn's protocol: a cycle per request, complete once answered."""

    cycle: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def request(self) -> None:
        self.cycle = SimpleNamespace(response_complete=False)

    def on_response_complete(self) -> None:
        self.cycle.response_complete = True

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class Connection(_HeaderDeadline, Protocol):
    header_timeout = 10.0

    def __init__(self, clock: Clock) -> None:
        self.loop = clock  # type: ignore[assignment]

    def _part_of_a_request_came(self) -> bool:
        return False


def connect(clock: Clock) -> Connection:
    connection = Connection(clock)
    connection.connection_made(Transport())
    return connection


def closed_at(clock: Clock, connection: Connection) -> float:
    """When the deadline closes ``connection``, to a tenth of a second (it must, within a minute)."""
    while not connection.transport.is_closing():
        assert clock.now < 60, "never closed"
        clock.advance(round(clock.now + 0.1, 1))
    return clock.now


def test_a_kept_alive_connection_gets_its_deadline_from_its_last_answer_not_its_start():
    """Issue 11 item 13: the headers have 10 s from the connection's start or its last answer. The one
    timer armed at the start fires at 10 s; the connection answered at 9 s, so it waits on to 19 s."""
    clock = Clock()
    connection = connect(clock)
    clock.advance(8.0)
    connection.request()
    clock.advance(9.0)
    connection.on_response_complete()

    assert closed_at(clock, connection) == 19.0


def test_a_request_in_hand_when_the_timer_fires_is_not_cut_and_its_answer_starts_the_next_wait():
    """Issue 11 item 13: a long answer (an SSE stream) is not cut; after it, the next request's headers have 10 s."""
    clock = Clock()
    connection = connect(clock)
    connection.request()
    clock.advance(30.0)
    assert not connection.transport.is_closing()

    connection.on_response_complete()
    assert closed_at(clock, connection) == 40.0


def test_a_thousand_requests_on_one_connection_make_one_timer_per_deadline_not_one_per_request():
    """Issue 14: arming and cancelling a timer at every request cost 4% of a metadata request; an answer
    now only notes the time. 1,000 requests in 5 s: the timer made at the start and none after."""
    clock = Clock()
    connection = connect(clock)
    for number in range(1000):
        clock.advance(number * 0.005)
        connection.request()
        connection.on_response_complete()

    assert clock.timers_made == 1
    connection.connection_lost(None)
    assert all(timer.cancelled for timer in clock.armed)
