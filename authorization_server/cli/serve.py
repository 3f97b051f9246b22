"""Run the server: what ``python -m authorization_server`` does without a command.

With ``--workers N`` (N > 1) this process binds the port and forks N workers that accept on it, each
a whole server with its own event loop and database connection, serving one issuer from one
database as separate instances would (issue 13, docs/deployment.md "Several instances"). A worker
that dies is replaced; SIGINT or SIGTERM stops them all.
"""

import logging
import os
import signal
import time
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from mcp_authz.authorization_server.app import create_app
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.shared.http_deadlines import with_header_deadline
from mcp_authz.shared.json_log import JsonFormatter

log = logging.getLogger("authorization_server")


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
    if settings.workers > 1:
        serve_workers(settings, log_config)
        return
    uvicorn.run(create_app(settings), **uvicorn_options(settings), log_config=log_config)


def serve_workers(settings: Settings, log_config: dict[str, Any] | None) -> None:
    """``--workers N``: bind the port here, then fork N workers that serve it, replacing any that dies.

    The workers run in a process group of their own, so that a terminal's Ctrl-C reaches this process
    only, which passes one SIGTERM to each: uvicorn takes a second signal as "stop at once".
    """
    config = uvicorn.Config(create_app(settings), **uvicorn_options(settings), log_config=log_config)
    listening = config.bind_socket()
    workers: set[int] = set()
    stopping = False

    def start_worker() -> int:
        pid = os.fork()
        if pid == 0:  # the worker: a whole server on the inherited socket
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            status = 1
            try:
                worker = uvicorn.Config(create_app(settings), **uvicorn_options(settings), log_config=log_config)
                uvicorn.Server(worker).run(sockets=[listening])
                status = 0
            finally:
                os._exit(status)
        return pid

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    workers.update(start_worker() for _ in range(settings.workers))
    log.info("authorization server: %d workers on %s:%d", settings.workers, config.host, config.port)
    while workers:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        workers.discard(pid)
        if not stopping:
            log.warning("worker %d ended (wait status %d): starting another", pid, status)
            workers.add(start_worker())
    listening.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the application: the one place its options are chosen.

    The tests' in-process harness (scripts/stack.py) serves the application with the same options on a thread.
    """
    # uvicorn's access log prints query strings, which can carry state and challenges: ours does not.
    # Forwarded headers are believed from the trusted proxies only, and from nobody without them
    # (uvicorn would otherwise trust 127.0.0.1): docs/decisions/0019.
    proxies = ",".join(str(network) for network in settings.proxy_networks)
    fast = settings.uvloop_and_httptools
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        # Slow clients (docs/decisions/0029): a deadline for headers (our protocol, uvicorn has none),
        # for bodies (app.Edge), and a bound on connections and requests at once (503 beyond it).
        "http": with_header_deadline(settings.header_timeout, "httptools" if fast else "h11"),
        # --http-stack (docs/decisions/0052): never uvicorn's own "auto", which would change with what is installed.
        "loop": "uvloop" if fast else "asyncio",
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
