"""``--log-format json``: one JSON object per log record, one per line (issue 17, "Ops surface").

For a log collector (Loki, Elasticsearch, CloudWatch) that reads fields instead of parsing text. The
authorization server and the MCP server both use it (docs/decisions/0038).

Each line holds ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``, ``message`` (the
same text the readable format prints, built by the same code that keeps secrets out of it), and,
on an access-log line, its fields: ``method``, ``route`` (the template, never the path), ``status``,
``duration_ms``. A traceback comes as ``exception``, text. Nothing else of the record is written:
no arguments, no ``extra`` but the access fields, so no value reaches the log that the readable
line would not show.
"""

import json
import logging
import time

#: The ``extra`` key under which an access-log record carries its fields (``ACCESS_FIELDS``, in order).
ACCESS = "access"
ACCESS_FIELDS = ("method", "route", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line (``json.dumps`` escapes newlines inside values)."""

    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, ACCESS, None)
        if access is not None:
            entry.update(zip(ACCESS_FIELDS, access, strict=True))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))

    def _time(self, created: float) -> str:
        """``2026-12-03T04:28:26.123Z``; the date and time formatted once a second, as ``LineFormatter``."""
        second, text = self._second
        if second != int(created):
            second = int(created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
            self._second = (second, text)
        return f"{text}.{int((created - second) * 1000):03d}Z"


def formatter(log_format: str, text_format: str) -> logging.Formatter:
    """The formatter ``--log-format`` names: ``json``, or ``text_format``'s lines."""
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(text_format)
