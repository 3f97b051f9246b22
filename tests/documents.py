"""A real HTTP server on loopback that serves what a test tells it to: client ID metadata documents,
JWK Sets, and the misbehaviour an authorization server must survive (redirects, errors, big bodies).

Also a listening socket that only records whether anyone connected, to show that a refused URL
was never fetched (AS-52: "no outbound request").
"""

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.authorization_server.flows import CALLBACK, Registered


@dataclass(frozen=True)
class Answer:
    """One response: status, headers, body."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    #: When given, the answer waits until the test sets it: a fetch held open, to count how many run at once.
    gate: threading.Event | None = field(default=None, compare=False)

    @classmethod
    def json(cls, document: object, **headers: str) -> "Answer":
        return cls(200, json.dumps(document).encode(), {"Content-Type": "application/json", **headers})

    def held(self, gate: threading.Event) -> "Answer":
        """This answer, sent only once ``gate`` is set."""
        return Answer(self.status, self.body, self.headers, gate)


class DocumentServer:
    """Serves queued answers per path (the last one repeats), counts the requests per path, and the
    requests being answered at once."""

    def __init__(self) -> None:
        self._answers: dict[str, list[Answer]] = {}
        self.hits: dict[str, int] = {}
        #: The Host header of the latest request per path.
        self.hosts: dict[str, str] = {}
        #: Requests being answered now, and the most at once since :meth:`reset_peak`.
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = server._next(self.path, self.headers.get("Host", ""))
                try:
                    if answer.gate is not None:
                        answer.gate.wait(timeout=30)
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                finally:
                    server._answered()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, *answers: Answer) -> str:
        """Queue ``answers`` for ``path``; returns its URL."""
        with self._lock:
            self._answers[path] = list(answers)
        return self.url(path)

    def publish(self, path: str, **fields: Any) -> str:
        """Serve a valid client metadata document at ``path`` (its ``client_id`` its URL); ``fields`` change it."""
        url = self.url(path)
        return self.serve(path, Answer.json(client_document(url, **fields)))

    def reset_peak(self) -> None:
        with self._lock:
            self.peak = self.in_flight

    def wait_until(self, condition: Callable[["DocumentServer"], bool], timeout: float = 10) -> bool:
        """Block until ``condition(self)`` holds (checked at every request's start and end), or ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(self), timeout)

    def _next(self, path: str, host: str) -> Answer:
        with self._changed:
            self.hits[path] = self.hits.get(path, 0) + 1
            self.hosts[path] = host
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self._changed.notify_all()
            queued = self._answers.get(path) or [Answer(404, b"{}")]
            return queued.pop(0) if len(queued) > 1 else queued[0]

    def _answered(self) -> None:
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def client_document(url: str, **fields: Any) -> dict[str, Any]:
    """A public MCP client's metadata document (CIMD §4.1): ``client_id`` is the document's own URL."""
    document = {
        "client_id": url,
        "client_name": "Document client",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    return {name: value for name, value in {**document, **fields}.items() if value is not None}


def document_client(url: str, redirect_uri: str = CALLBACK) -> Registered:
    """How a client known by its document presents itself: its URL as client_id, no secret."""
    return Registered({"client_id": url, "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"})


@contextmanager
def silent_listener() -> Iterator["Listener"]:
    """A socket listening on 127.0.0.1 that nobody should connect to."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield Listener(sock)


@dataclass(frozen=True)
class Listener:
    sock: socket.socket

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def connected(self) -> bool:
        """Whether a connection reached the socket (the kernel queues it even if nobody accepts)."""
        try:
            connection, _ = self.sock.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True
