"""``--quiet``: one line per step with what it found, and the outcome; no wire view.

::

    1/8 discover: resource http://localhost:8000/mcp, authorization server http://localhost:9000/mcp/demo
    2/8 metadata: authorize at http://localhost:9000/mcp/demo/authorize, tokens at ...
    ...
    done: registration and tokens are stored in /home/me/.local/state/mcp-auth-client/store.json

The step-by-step view (client/tutorial.py) stays the default: it is the tutorial. Here the
requests, responses and rules are left out; the results are the same lines, secrets masked as
there. ``logout`` uses this view without the step lines (``steps=False``): only what it did.
"""

import json
from typing import Any, TextIO

import httpx2

from mcp_authz.client.errors import one_line
from mcp_authz.client.tutorial import STEP_COUNT, Tutorial, masked


class QuietTutorial(Tutorial):
    """Collects each step's results and prints them as one line when the next step begins or the run ends."""

    def __init__(self, out: TextIO, *, steps: bool = True) -> None:
        super().__init__(out)
        self._steps = steps
        self._current: str | None = None
        self._results: list[str] = []

    def heading(self, text: str) -> None:
        return None  # the steps and the outcome say it all

    def outcome(self, text: str) -> None:
        self.finish()
        self._line(text)

    def step(self, number: int, name: str, what: str) -> None:
        self.finish()
        self._current = f"{number}/{STEP_COUNT} {name}"

    def say(self, text: str) -> None:
        return None

    def rule(self, rule: str, text: str) -> None:
        return None

    def result(self, text: str) -> None:
        self._results.append(text)

    def data(self, value: Any) -> None:
        """A JSON value on the line of its result, compact, secrets masked (e.g. ``whoami: {...}``)."""
        compact = json.dumps(masked(value), ensure_ascii=False, separators=(", ", ": "))
        if self._results and self._results[-1].endswith(":"):
            self._results[-1] = f"{self._results[-1]} {compact}"
        else:
            self._results.append(compact)

    def finish(self) -> None:
        if self._current is not None and self._steps:
            self._line(one_line(f"{self._current}: {'; '.join(self._results)}" if self._results else self._current))
        self._current = None
        self._results = []

    def sent(self, request: httpx2.Request, *, bodies: bool) -> None:
        return None

    def received(self, response: httpx2.Response, *, bodies: bool, elapsed: float | None = None) -> None:
        return None
