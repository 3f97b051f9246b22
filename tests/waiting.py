"""Waiting on something that tells nobody when it happens (issue 12, "A fast test loop"): poll it.

A test waits on a condition with a generous deadline, never for a fixed time: on a loaded machine it
only takes longer, and on an idle one it goes on as soon as the condition holds.
"""

import time
from collections.abc import Callable

#: How long anything is given to happen before the test fails: long, since a passing test never waits it.
PATIENCE = 30.0


def eventually(condition: Callable[[], bool], patience: float = PATIENCE) -> None:
    """Wait until ``condition()`` holds (a row deleted, a log line written), failing after ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while not condition():
        assert time.monotonic() < deadline, "it did not happen in time"
        time.sleep(0.05)
