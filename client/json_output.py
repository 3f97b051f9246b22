"""``--json``: each step as one JSON object on stdout, for scripts; nothing else is printed there.

One line per step, in the order the steps ran::

    {"step": "token", "number": 5, "title": "Exchange the authorization code for tokens (...).",
     "exchanges": [{"request": {"method": "POST", "url": "...", "headers": {...}, "body": {...}},
                    "response": {"status": 200, "headers": {...}, "body": {...}, "elapsed_ms": 4}}],
     "rules": [{"rule": "CL-24, CL-25, CL-19", "text": "..."}],
     "notes": ["..."], "results": ["access token eyJhbG…, expires in 900 s, ..."], "data": []}

Secrets are masked exactly as in the text output (client/tutorial.py). Every header is given, as
with ``--verbose``; a body is ``null`` when it was not read (MCP event streams, HTML pages) or
is not JSON or a form. A failure is one object on stderr: ``{"error": "...", "exit_code": 7}``.
"""

import json
from typing import Any, TextIO

import httpx2

from mcp_authz.client.tutorial import (
    SHOWN_REQUEST_HEADERS,
    SHOWN_RESPONSE_HEADERS,
    Tutorial,
    form_fields,
    json_body,
    masked,
    masked_url,
    request_content,
    shown_headers,
)


class JsonTutorial(Tutorial):
    """Collects each step and prints it as one JSON object when the next begins or the run ends."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out, verbose=True)
        self._current: dict[str, Any] | None = None

    def heading(self, text: str) -> None:
        return None  # the steps say it all

    def outcome(self, text: str) -> None:
        return None  # the steps say it all

    def step(self, number: int, name: str, what: str) -> None:
        self.finish()
        self._current = {
            "step": name,
            "number": number,
            "title": what,
            "exchanges": [],
            "rules": [],
            "notes": [],
            "results": [],
            "data": [],
        }

    def say(self, text: str) -> None:
        self._record("notes", text)

    def rule(self, rule: str, text: str) -> None:
        self._record("rules", {"rule": rule, "text": text})

    def result(self, text: str) -> None:
        self._record("results", text)

    def data(self, value: Any) -> None:
        self._record("data", masked(value))

    def finish(self) -> None:
        if self._current is not None:
            print(json.dumps(self._current, ensure_ascii=False), file=self._out, flush=True)
        self._current = None

    def sent(self, request: httpx2.Request, *, bodies: bool) -> None:
        form = form_fields(request)
        body = dict(form) if form is not None else json_body(request_content(request), request.headers)[0]
        self._record(
            "exchanges",
            {
                "request": {
                    "method": request.method,
                    "url": masked_url(str(request.url)),
                    "headers": dict(shown_headers(request.headers, SHOWN_REQUEST_HEADERS, verbose=True)),
                    "body": body,
                },
                "response": None,
            },
        )

    def received(self, response: httpx2.Response, *, bodies: bool, elapsed: float | None = None) -> None:
        received = {
            "status": response.status_code,
            "headers": dict(shown_headers(response.headers, SHOWN_RESPONSE_HEADERS, verbose=True)),
            "body": json_body(response.content, response.headers)[0] if bodies else None,
            "elapsed_ms": round(elapsed * 1000) if elapsed is not None else None,
        }
        waiting = [exchange for exchange in self._list("exchanges") if exchange["response"] is None]
        if waiting:
            waiting[0]["response"] = received

    def _record(self, kind: str, value: Any) -> None:
        self._list(kind).append(value)

    def _list(self, kind: str) -> list[Any]:
        assert self._current is not None, "every output belongs to a step"
        entries: list[Any] = self._current[kind]
        return entries


def error_line(message: str, exit_code: int) -> str:
    """A failure as ``--json`` reports it on stderr."""
    return json.dumps({"error": message, "exit_code": exit_code}, ensure_ascii=False)
