"""Run the server: what ``python -m authorization_server`` does without a command."""

import logging
import time
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from authorization_server.app import create_app
from authorization_server.settings import Settings
from shared.http_deadlines import with_header_deadline
from shared.json_log import JsonFormatter


def serve(settings: Settings) -> None:
    handler = logging.StreamHandler()
    # --log-format json: one JSON object per line, the same messages (shared/json_log.py, docs/decisions/0038).
    text = LineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else text)
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    # A line per request: leave out of each record what the format never prints, as the logging
    # HOWTO's "Optimization" section says (the caller's frame, thread and process names).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # --log-format json: uvicorn's own records ("Started server process") go through our handler too.
    log_config = None if settings.log_format == "json" else LOGGING_CONFIG
    uvicorn.run(create_app(settings), **uvicorn_options(settings), log_config=log_config)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the application: the one place its options are chosen.

    The tests' in-process harness (scripts/stack.py) serves the application with the same options on a thread.
    """
    # uvicorn's access log prints query strings, which can carry state and challenges: ours does not.
    # Forwarded headers are believed from the trusted proxies only, and from nobody without them
    # (uvicorn would otherwise trust 127.0.0.1): docs/decisions/0019.
    proxies = ",".join(str(network) for network in settings.proxy_networks)
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        # Slow clients (docs/decisions/0029): a deadline for headers (our protocol, uvicorn has none),
        # for bodies (app.Edge), and a bound on connections and requests at once (503 beyond it).
        "http": with_header_deadline(settings.header_timeout),
        "limit_concurrency": settings.limit_concurrency,
        "ws": "none",
    }


class LineFormatter(logging.Formatter):
    """The standard formatter, whose ``asctime`` formats the date and time once a second, not once a line.

    ``time.strftime`` of every record's time was an eighth of the cost of an access-log line.
    The text is the standard one (``2026-11-23 02:57:25,123``).
    """

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)  # one assignment: threads that log see a matching pair
        if self.default_msec_format is None:  # as logging.Formatter.formatTime: no milliseconds then
            return text
        return self.default_msec_format % (text, record.msecs)
