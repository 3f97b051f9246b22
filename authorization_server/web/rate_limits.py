"""Rate limits on authorization, registration, token, revocation, introspection and sign-in (RFC 7591 §5,
RFC 9700 §4.16, OAuth 2.1 §7.2, RFC 7009 §2, RFC 7662 §4).

Each limit is a token bucket per key: ``count`` requests at once, refilled evenly over
``seconds``. A refused request is ``429 Too Many Requests`` with ``Retry-After`` (RFC 6585 §4,
RFC 9110 §10.2.3).

The per-client token limit is kept in the database (:class:`SharedLimiter`, issue 13), spent by one
statement inside the token request's unit of work, so that every instance serving the issuer
spends the same bucket. The per-address limits are kept in each process's memory: behind a load
balancer over N instances, an address may make up to N times the setting
(docs/deployment.md, "Several instances").

The keys are chosen so that one shared egress address (claude.ai, a company proxy) does not
lock out the many users behind it (USER-NEEDS theme 4, docs/decisions/0011):

============  ======================================  ==============================
endpoint      limited per                             default
============  ======================================  ==============================
authorize     client address (each request writes     60 per minute
              a journey: issue 11, item 4)
registration  client address                          60 per 10 minutes
token         address, before authentication; then    600 per minute; 60 per minute
              the authenticated ``client_id`` (a
              public client's: with the address)
sign-in       address and username; and, looser,      10 per minute; 100 per minute
              address
revocation    client address (RFC 7009 §2: resists    120 per minute
              token scanning)
introspect    client address, failed authentications  30 per minute
              only (RFC 7662 §4); with none left,
              every request from there is refused
fetches       address (only fetches that go out)      30 per minute
============  ======================================  ==============================

At the introspection endpoint only failures count: its callers are MCP servers that may check
every token they receive, and a busy one must not be slowed by its own successes. What the limit
stops is guessing an MCP server's secret, the one way to reach the token scanning that RFC 7662
§4 asks the server to resist.

The last is :class:`FetchLimit`: client metadata documents and ``jwks_uri`` JWK Sets that a
request to ``/authorize``, ``/token`` or ``/revoke`` makes this server fetch (issue 11, item 5).

At the token endpoint a client's own bucket is spent only once the client proved who it is
(issue 11 item 3): anyone can name a ``client_id``, so a bucket spent on the name alone let
anyone exhaust it, and the real client's next refresh got 429. A public client proves nothing,
so its bucket is its ``client_id`` *and* address: naming it from elsewhere spends another one.

An IPv6 address counts by its /64 network, which one host usually has to itself.
"""

import ipaddress
import math
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Protocol

from starlette.requests import Request

from mcp_authz.authorization_server.accounts.service import MAX_USERNAME_LENGTH
from mcp_authz.authorization_server.clock import monotonic
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import TooManyRequests
from mcp_authz.authorization_server.settings import Rate

#: Buckets kept before the full ones are dropped (a full bucket is the same as no bucket).
MAX_KEYS = 100_000


class Limiter:
    """A token bucket per key. ``what`` completes "too many ..." in the refusal.

    ``name`` is the limit's setting without ``rate_limit_`` (``token_ip``); ``refused(name)`` is told of
    each refusal (the metrics' ``as_rate_limit_refusals_total``, issue 17).
    """

    def __init__(
        self,
        rate: Rate,
        what: str,
        clock: Callable[[], float] = monotonic,
        *,
        name: str = "",
        refused: Callable[[str], None] = lambda name: None,
    ) -> None:
        self._name = name
        self._refused = refused
        self._capacity = float(rate.count)
        self._per_second = rate.count / rate.seconds
        self._what = what
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens left, when counted)
        #: A limit may be spent from more than one thread (the tests' in-process servers share a process).
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one request of ``key``'s bucket, or raise :class:`TooManyRequests` saying when to retry."""
        with self._lock:
            self._take(key)

    def check(self, key: str) -> None:
        """Raise :class:`TooManyRequests` if ``key``'s bucket has no whole request left; spend nothing."""
        with self._lock:
            self._refuse_if_empty(self._tokens(key, self._clock()))

    def _refuse_if_empty(self, tokens: float) -> None:
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self._per_second)
            self._refused(self._name)
            raise TooManyRequests(f"Too many {self._what}. Try again in {wait} s.", retry_after=wait)

    def _take(self, key: str) -> None:
        now = self._clock()
        tokens = self._tokens(key, now)
        self._refuse_if_empty(tokens)
        if len(self._buckets) >= MAX_KEYS:
            self._drop_full(now)
        self._buckets[key] = (tokens - 1, now)

    def _tokens(self, key: str, now: float) -> float:
        left, then = self._buckets.get(key, (self._capacity, now))
        return min(self._capacity, left + (now - then) * self._per_second)

    def _drop_full(self, now: float) -> None:
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items() if self._tokens(key, now) < self._capacity
        }


class Spend(Protocol):
    """Takes one request from a bucket kept in the database; the thousandths of a request left (``ClientService``)."""

    async def __call__(self, tx: Transaction, bucket: str, *, count: int, seconds: int) -> int: ...


class SharedLimiter:
    """A token bucket per key in the database every instance shares (issue 13), spent inside a unit of work.

    A refusal raises :class:`TooManyRequests`, and the unit's rollback undoes the spend: a refused
    request does not count.
    """

    def __init__(
        self, rate: Rate, what: str, spend: Spend, *, name: str, refused: Callable[[str], None] = lambda name: None
    ) -> None:
        self._rate = rate
        self._what = what
        self._spend = spend
        self._name = name
        self._refused = refused

    async def take(self, tx: Transaction, key: str) -> None:
        left = await self._spend(tx, f"{self._name} {key}", count=self._rate.count, seconds=self._rate.seconds)
        if left < 0:
            wait = max(1, math.ceil(-left * self._rate.seconds / (self._rate.count * 1000)))
            self._refused(self._name)
            raise TooManyRequests(f"Too many {self._what}. Try again in {wait} s.", retry_after=wait)


class RateLimits:
    """The limits of the endpoints that create rows or check secrets, by the keys above."""

    def __init__(
        self,
        *,
        authorize: Rate,
        register: Rate,
        token_client: Rate,
        token_ip: Rate,
        login: Rate,
        login_ip: Rate,
        revoke: Rate,
        introspect_failures: Rate,
        spend: Spend,
        refused: Callable[[str], None] = lambda name: None,
    ) -> None:
        """``spend``: the database's buckets, for the per-client token limit (``ClientService.spend_request``)."""

        def limiter(rate: Rate, what: str, name: str) -> Limiter:
            return Limiter(rate, what, name=name, refused=refused)

        self._authorize = limiter(authorize, "authorization requests from this address", "authorize")
        self._register = limiter(register, "registrations from this address", "register")
        self._token_client = SharedLimiter(
            token_client, "token requests for this client", spend, name="token_client", refused=refused
        )
        self._token_ip = limiter(token_ip, "token requests from this address", "token_ip")
        self._login = limiter(login, "sign-in attempts for this username from this address", "login")
        self._login_ip = limiter(login_ip, "sign-in attempts from this address", "login_ip")
        self._revoke = limiter(revoke, "revocation requests from this address", "revoke")
        self._introspect_failures = limiter(
            introspect_failures, "failed introspection authentications from this address", "introspect_failures"
        )

    def authorization(self, request: Request) -> None:
        self._authorize.take(address_of(request))

    def registration(self, request: Request) -> None:
        self._register.take(address_of(request))

    def token(self, request: Request) -> None:
        """Before the client is authenticated: the address's bucket only."""
        self._token_ip.take(address_of(request))

    async def token_client(self, request: Request, tx: Transaction, client_id: str, *, proven: bool) -> None:
        """Once the client authenticated: its own bucket, or with ``proven`` false (a public client), its
        bucket at this address. Spent inside the request's unit of work, in the database (issue 13)."""
        await self._token_client.take(tx, client_id if proven else f"{client_id} {address_of(request)}")

    def revocation(self, request: Request) -> None:
        """Every revocation request spends from the address's bucket, before authentication (RFC 7009 §2)."""
        self._revoke.take(address_of(request))

    def introspection(self, request: Request) -> None:
        """Before authentication: refused while the address has no failed authentication left (RFC 7662 §4)."""
        self._introspect_failures.check(address_of(request))

    def introspection_failed(self, request: Request) -> None:
        """A caller failed to authenticate at the introspection endpoint: spend one of the address's failures."""
        self._introspect_failures.take(address_of(request))

    def login(self, request: Request, username: str) -> None:
        address = address_of(request)
        self._login_ip.take(address)
        self._login.take(f"{address} {username[:MAX_USERNAME_LENGTH]}")  # no username is longer

    def federated_sign_in(self, request: Request) -> None:
        """A sign-in through an identity provider, its start or the provider's answer, counts as a sign-in
        attempt from the address (issue 16): each may write a row and call out to the provider."""
        self._login_ip.take(address_of(request))


def address_of(request: Request) -> str:
    """The client's address as rate limits count it: IPv4 as is, IPv6 by its /64 network.

    Behind a reverse proxy, uvicorn takes it from ``X-Forwarded-For`` when the proxy is one of
    the ``trusted_proxies`` (none by default: docs/decisions/0019).
    """
    client = request.client  # starlette makes a new Address at each reading
    host = client.host if client else ""
    if ":" not in host:  # IPv4 (or a name): counted as it is, without parsing it on every request
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


#: The address of the request the current task serves, set by the endpoints whose requests may
#: make this server fetch (``/authorize``, ``/token``, ``/revoke``) and read by :class:`FetchLimit`
#: deep in the fetcher. Each request runs in a task of its own, so the value never outlives it;
#: outside a request (the command line) it is unset and nothing is charged.
_requester: ContextVar[str | None] = ContextVar("requester", default=None)


def charge_fetches_to(request: Request) -> None:
    """Charge the outbound fetches this request causes to its address (:class:`FetchLimit`)."""
    _requester.set(address_of(request))


class FetchLimit:
    """Outbound fetches of client metadata documents and JWK Sets per requesting address (issue 11, item 5).

    Called by the fetcher before each fetch that goes out: an answer from its cache, or a share
    of a fetch of the same URL already under way, costs nothing, so the many users behind one
    shared egress address whose client is known by one document never run into it.
    """

    def __init__(
        self, rate: Rate, clock: Callable[[], float] = monotonic, refused: Callable[[str], None] = lambda name: None
    ) -> None:
        what = "client documents fetched for requests from this address"
        self._limiter = Limiter(rate, what, clock, name="fetch", refused=refused)

    def __call__(self) -> None:
        address = _requester.get()
        if address is not None:
            self._limiter.take(address)
