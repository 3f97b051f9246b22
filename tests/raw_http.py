"""Requests written byte by byte on a raw socket, for what an HTTP client library will not send:
a body cut short, headers that never end, a body that stalls (issue 11, items 8 and 13)."""

import socket
from contextlib import closing

#: How long a test waits for the server at most, whatever it waits for.
PATIENCE = 30.0


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    return sock


def head(port: int, method: str, path: str, headers: dict[str, str]) -> bytes:
    """The request line and headers of an HTTP/1.1 request to ``localhost:port``, up to and with the blank line."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: localhost:{port}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send_half_a_body_and_close(port: int, path: str, content_type: str, headers: dict[str, str] | None = None) -> None:
    """Announce 100 bytes of body, send 10, and close the connection (issue 11, item 8)."""
    with closing(connect(port)) as sock:
        sock.sendall(
            head(port, "POST", path, {"Content-Type": content_type, "Content-Length": "100", **(headers or {})})
        )
        sock.sendall(b"grant_type")


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; ``TimeoutError`` if it never does."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One whole response of a kept-alive connection: its head, then as many body bytes as its
    ``Content-Length`` says (a ``recv`` may return a part of it, or the head alone)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536) or _closed()
    head_bytes, _, body = received.partition(b"\r\n\r\n")
    lengths = [
        line.split(b":", 1)[1] for line in head_bytes.split(b"\r\n") if line.lower().startswith(b"content-length:")
    ]
    length = int(lengths[0]) if lengths else 0
    while len(body) < length:
        body += sock.recv(65536) or _closed()
    return head_bytes + b"\r\n\r\n" + body


def _closed() -> bytes:
    raise ConnectionError("the server closed the connection in the middle of a response")
