"""The server's counters in the Prometheus text format (issue 17, "Ops surface"; docs/decisions/0038).

One :class:`Metrics` per application, with a registry of its own (not ``prometheus_client``'s global
one), so that two servers in one process (the tests' in-process harness) count apart. The counters
live in the process's memory: each worker process of a server counts its own requests, and a
scraper adds them up (several workers or instances: one scrape target each).

They are served only on a listener of their own (``--metrics-port``, loopback by default,
``prometheus_client``'s small HTTP server on a thread), never on the public port; off unless set.

Labels are bounded sets: the route *template* (``/interaction/{interaction_id}/login``, never the
path), the status, the grant type and its kind, the journey's end state, the limit's name, the fetch's result.
No label ever carries a client id, a user, a token or a URL.
"""

import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

#: Latency buckets, seconds: the token endpoint answers in milliseconds, a metadata fetch may take seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The ``Transaction.count`` event of a journey reaching an end state (``journeys/states.py``), its label the state.
JOURNEY_ENDED = "journey_ended"
#: The database's event of a unit run again after a conflict (``db_postgresql.py``), its label the reason.
UNIT_RETRIED = "unit_retried"


class Metrics:
    """The counters and histograms of one running authorization server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._requests = Counter(
            "as_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "as_http_request_duration_seconds",
            "time to answer a request, by route template",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._tokens = Counter(
            "as_tokens_issued",
            "token responses issued, by grant type (OAuth 2.1 §3.2.3) and kind (the jwt-bearer grant's id-jag or"
            " workload, the token exchange's id-jag; empty for the others)",
            ["grant_type", "kind"],
            registry=registry,
        )
        self._journeys = Counter(
            "as_journeys_ended",
            "authorization journeys that reached an end state (denied, failed, revoked, expired)",
            ["outcome"],
            registry=registry,
        )
        self._refusals = Counter(
            "as_rate_limit_refusals", "requests refused by a rate limit (429), by limit", ["limit"], registry=registry
        )
        self._fetches = Counter(
            "as_outbound_fetches",
            "outbound fetches that went out (client metadata documents, JWK Sets, identity providers' and workload"
            " issuers' discovery documents), by result",
            ["result"],
            registry=registry,
        )
        self._retries = Counter(
            "as_database_retries",
            "units of work run again after a conflict (PostgreSQL serialization failure or deadlock)",
            ["reason"],
            registry=registry,
        )
        # labels() takes a lock and builds a key each call: the request path keeps its children instead.
        self._request_children: dict[tuple[str, str, int], Callable[[], None]] = {}
        self._latency_children: dict[str, Callable[[float], None]] = {}
        self._token_children: dict[tuple[str, str], Callable[[], None]] = {}

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request (``app.Edge``): ``route`` is the template, never the path."""
        count = self._request_children.get((method, route, status))
        if count is None:
            count = self._request_children.setdefault(
                (method, route, status), self._requests.labels(method, route, str(status)).inc
            )
        observe = self._latency_children.get(route)
        if observe is None:
            observe = self._latency_children.setdefault(route, self._latency.labels(route).observe)
        count()
        observe(seconds)

    def token_issued(self, grant_type: str, kind: str) -> None:
        """One token response (told once committed): ``kind`` tells apart the uses of one grant type
        (``flow/token/service.py``): the jwt-bearer grant's ``id-jag`` (SEP-990) and ``workload``
        (SEP-1933), the token exchange that issues an ID-JAG ``id-jag``; empty for the rest, which PromQL
        reads as no label at all. Both are bounded sets, so each labelled child is kept once made."""
        count = self._token_children.get((grant_type, kind))
        if count is None:
            count = self._token_children.setdefault((grant_type, kind), self._tokens.labels(grant_type, kind).inc)
        count()

    def rate_limited(self, limit: str) -> None:
        self._refusals.labels(limit).inc()

    def fetched(self, result: str) -> None:
        self._fetches.labels(result).inc()

    def database_event(self, event: str, label: str) -> None:
        """What the database tells (``Database.observe``): a fact a unit of work noted with ``Transaction.count``,
        once its transaction committed; a unit run again after a conflict, as it happens."""
        if event == JOURNEY_ENDED:
            self._journeys.labels(label).inc()
        elif event == UNIT_RETRIED:
            self._retries.labels(label).inc()

    def serve(self, host: str, port: int) -> "MetricsListener":
        """Serve ``GET /metrics`` (any path, in fact) on ``host:port`` from a thread of its own."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsListener(server, thread)


class MetricsListener:
    """The metrics listener's server and thread, stopped with the application."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
