"""A deadline for request headers, which uvicorn's HTTP/1.1 server does not have (issue 11, item 13).

uvicorn (h11) arms one timer of its own: ``timeout_keep_alive``, started when an answer is complete
and cancelled by the next byte that arrives. A connection that sends nothing after it opens, or
half a request line, or headers one byte at a time, or the rest of a body it no longer needs after
an early answer, stays open for good: measured against uvicorn 0.55, such connections were all
still open after 60 s. Each holds a socket and counts against ``limit_concurrency``, so a few
hundred of them shut every other client out (slowloris).

:func:`with_header_deadline` returns uvicorn's HTTP/1.1 protocol with a deadline: whenever the
connection waits for a request (it has just opened, or its last answer is complete), the request's
headers must all have arrived within ``seconds``, however the bytes trickle. Otherwise it
answers ``408 Request Timeout`` (RFC 9110 §15.5.9) if part of a request came, and closes. A request
whose headers arrived is the application's: its body has the application's own deadline (the
authorization server's ``Edge``, the MCP server's ``BearerAuth``), and a long answer such as an
SSE stream is not cut.

Both servers run it (``uvicorn.run(..., http=with_header_deadline(s))``). It subclasses
``uvicorn.protocols.http.h11_impl.H11Protocol``, or with ``parser="httptools"`` uvicorn's
``HttpToolsProtocol`` (the C parser of ``--http-stack uvloop``, docs/decisions/0052), and relies on
three of their methods (``connection_made``, ``on_response_complete``, ``connection_lost``), their
``cycle``, and to tell a partial request from none, h11's ``trailing_data`` or httptools' two
callbacks ``on_message_begin`` and ``on_headers_complete``: the tests in
``tests/*/test_edge_timeouts.py`` pin that behaviour against the installed uvicorn.
"""

import asyncio
import logging
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("uvicorn.error")

_REQUEST_TIMEOUT_BODY = b"The request headers did not arrive in time.\n"
#: Written as bytes: h11 will not send a response to a request whose headers it has not parsed.
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_REQUEST_TIMEOUT_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _REQUEST_TIMEOUT_BODY
)


class _HeaderDeadline:
    """The deadline, over either of uvicorn's HTTP/1.1 protocols (the class that follows this one in the MRO).

    One timer per connection, not one per request: each answer only notes the time the connection
    began to wait again (a clock reading), and the timer, when it fires, looks at the connection as
    it is then (:meth:`_check_deadline`): re-armed for the last wait's end if the connection answered
    since, dropped while a request is in hand (the next answer arms it again). Arming and cancelling a
    timer at every request was 4% of the instructions of a metadata request (issue 14).
    """

    #: Seconds from the connection's start or its last answer to the end of the next request's headers.
    header_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None
    #: ``loop.time()`` when the connection last began to wait for a request.
    _waiting_since: float = 0.0
    # What the protocol classes give (uvicorn's H11Protocol and HttpToolsProtocol alike).
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._begin_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._begin_waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _waiting_for_request(self) -> bool:
        """No request is in hand: the connection is new, or its last request has been answered."""
        return self.cycle is None or bool(self.cycle.response_complete)

    def _part_of_a_request_came(self) -> bool:
        """Some bytes of the next request arrived, but not all its headers."""
        raise NotImplementedError

    def _begin_waiting(self) -> None:
        """From now on the next request's headers have ``header_timeout`` seconds; arm the timer if none is."""
        self._waiting_since = self.loop.time()
        if self._deadline is None and not self.transport.is_closing():
            self._deadline = self.loop.call_at(self._waiting_since + self.header_timeout, self._check_deadline)

    def _check_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or not self._waiting_for_request():
            return  # a request is in hand: its answer begins the next wait
        due = self._waiting_since + self.header_timeout
        if self.loop.time() < due:  # answered meanwhile: this wait began later
            self._deadline = self.loop.call_at(due, self._check_deadline)
            return
        if self._part_of_a_request_came():
            log.info("request headers incomplete after %s s: 408, connection closed", self.header_timeout)
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


class HeaderDeadlineProtocol(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose next request headers are late."""

    def _part_of_a_request_came(self) -> bool:
        partial, _ = self.conn.trailing_data
        return bool(partial) and self.conn.their_state is h11.IDLE


def _httptools_protocol() -> type[_HeaderDeadline]:
    """uvicorn's httptools protocol with the deadline; imported only when asked for (httptools is optional)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsHeaderDeadlineProtocol(_HeaderDeadline, HttpToolsProtocol):
        """The same deadline over httptools: its parser says when a request begins and when its headers end."""

        _request_begun = False

        def on_message_begin(self) -> None:
            self._request_begun = True
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._request_begun = False
            super().on_headers_complete()

        def _part_of_a_request_came(self) -> bool:
            return self._request_begun

    return HttpToolsHeaderDeadlineProtocol


def with_header_deadline(seconds: float, parser: Literal["h11", "httptools"] = "h11") -> type[asyncio.Protocol]:
    """The protocol class to give ``uvicorn.run(http=...)``, with this header deadline, over ``parser``."""
    base = HeaderDeadlineProtocol if parser == "h11" else _httptools_protocol()
    return type(base.__name__, (base,), {"header_timeout": float(seconds)})
