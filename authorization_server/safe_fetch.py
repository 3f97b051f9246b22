"""Fetching a URL that a client handed us, without letting the client aim this server inward (SSRF).

Used for everything a client names by URL: client ID metadata documents and ``jwks_uri`` JWK
Sets (docs/decisions/0015). The rules (CIMD §4, §6.5, §6.6; MCP security best practices, SSRF):

- the URL is https, has a host, no user information and no fragment (``url_problem``);
- the host is resolved once, and the fetch is refused if ANY address it resolves to is
  special-use (RFC 6890: loopback, private, link-local such as 169.254.169.254, shared CGNAT
  100.64/10, unspecified, multicast, reserved, documentation, benchmarking, IPv4-mapped,
  6to4, Teredo and NAT64 IPv6); the connection then goes to exactly that checked address: no
  second DNS lookup, while the ``Host`` header, TLS SNI and the certificate check still use the
  hostname;
- GET only, no proxy from the environment, no redirect followed (a 3xx is an error), 200 only,
  a JSON media type, at most ``max_bytes`` of body, one timeout for the whole exchange;
- successful, valid answers are cached as their ``Cache-Control`` says, within the server's
  bounds (``no-store``/``no-cache``: not at all); a failure (an error, or a value ``parse``
  refuses) is remembered for ``failure_ttl`` seconds, so that a stream of requests naming a 404
  document makes one fetch, not one each (issue 11, item 5);
- the host is an IP literal or a name the resolver can encode (IDNA): labels of 1-63
  characters, no percent-encoding, no bidi control (issue 11, item 7);
- at most ``max_fetches`` fetches run at once, ``max_fetches_per_host`` of them to one host; a
  fetch that gets no slot within ``slot_wait`` seconds is :class:`Busy`, never queued for long;
  concurrent requests for the same URL share one fetch (single flight);
- ``before_fetch`` is called before every fetch that goes out (not for a cached answer or a
  joined one): the server charges it to the requesting address's rate limit (``web/rate_limits.py``);
- a host that does not resolve and one that resolves to a special-use address get the same
  text, so that the error cannot be used to map internal DNS.

``FetchPolicy.allow_loopback`` (``--allow-loopback-client-metadata``, on in demo mode) admits
http and https URLs on loopback hosts and loopback addresses, for tests and the demo; nothing
else special-use, ever. One caller may admit more, per fetch: ``allow_private_network`` admits the
private-use ranges (RFC 1918, RFC 4193 unique local) and nothing else (not link-local, not CGNAT,
not loopback), for an identity provider the operator said lives on the organisation's network
(``identity-providers add --allow-private-network``, decision 0047); never for a client's URL.
"""

import asyncio
import copy
import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import httpx2

from mcp_authz.authorization_server.clock import monotonic
from mcp_authz.shared.loopback import is_https_or_loopback_http

T = TypeVar("T")
MAX_URL_LENGTH = 2000
#: At most this many answers are cached; the oldest make room for new ones.
MAX_CACHED = 1000
#: RFC 6052 §2.1 and RFC 8215: NAT64 prefixes, which translate to IPv4 addresses of any kind.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: RFC 1918 and RFC 4193: the ranges an organisation numbers its own hosts from.
_PRIVATE_NETWORKS = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)
_JSON_TYPES = ("application/json", "application/jwk-set+json")

#: Resolves a host and port to IP address strings; ``loop.getaddrinfo`` unless a test gives another.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class FetchFailed(Exception):
    """Why a URL could not be used; the text names no secret and may be shown to the client."""


class Busy(Exception):
    """No fetch slot came free in time: the server is fetching too much at once; try again shortly."""


@dataclass(frozen=True)
class FetchPolicy:
    allow_loopback: bool
    timeout: float
    #: Bounds, in seconds, on how long a valid answer is reused (CIMD §4.4).
    cache_min: int
    cache_max: int
    #: Seconds a failed fetch, or a refused value, is answered from memory (0: never).
    failure_ttl: int = 30
    #: Fetches running at once, in all and to one host.
    max_fetches: int = 16
    max_fetches_per_host: int = 2
    #: Seconds a fetch waits for a slot before it is :class:`Busy`.
    slot_wait: float = 1.0


def url_problem(url: str, *, allow_loopback: bool) -> str | None:
    """Why ``url`` may not be fetched at all, or ``None`` (https; a host; no user info, no fragment)."""
    if len(url) > MAX_URL_LENGTH:
        return f"it is longer than {MAX_URL_LENGTH} characters"
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        return "it contains spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "it is not a valid URL"
    if not is_https_or_loopback_http(url, loopback_http=allow_loopback):
        return "it must be an https URL"
    if not parts.hostname:
        return "it has no host"
    if "@" in parts.netloc:
        return "it must not carry user information"
    if parts.fragment or "#" in url:
        return "it must not have a fragment"
    if ascii_host(parts.hostname) is None:
        return "its host is not a valid domain name"
    return None


def ascii_host(host: str) -> str | None:
    """``host`` as the resolver and the ``Host`` header take it (an IP literal, or IDNA ASCII), or ``None``.

    ``None`` for a name the resolver's IDNA codec refuses (RFC 5890 §2.3.1: an empty label, a
    label over 63 octets, a character such as U+202E), for percent-encoding, which no resolver
    decodes, and for a name over 253 characters (RFC 1035 §2.3.4).
    """
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if "%" in host:
        return None
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return encoded if 0 < len(encoded) <= 253 else None


def is_special_use(address: str) -> bool:
    """Whether ``address`` is special-use (RFC 6890) or may reach one; only public unicast is not."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        return bool(ip.ipv4_mapped or ip.sixtofour or ip.teredo or ip.is_site_local or any(ip in net for net in _NAT64))
    return False


def is_private_network(address: str) -> bool:
    """Whether ``address`` is in a private-use range (RFC 1918, RFC 4193), the only special-use ones an operator
    may admit for one identity provider; an IPv4-mapped or translated form of one is not."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return any(ip.version == net.version and ip in net for net in _PRIVATE_NETWORKS)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class SafeFetcher:
    """GETs JSON from client-given URLs under :class:`FetchPolicy`, caching what ``parse`` accepted."""

    def __init__(
        self,
        policy: FetchPolicy,
        resolve: Resolver = system_resolver,
        before_fetch: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = monotonic,
        fetched: Callable[[str], None] = lambda result: None,
    ) -> None:
        self._policy = policy
        self._resolve = resolve
        self._before_fetch = before_fetch
        #: Told how each fetch that went out ended (the metrics): ``ok``, ``failed``, ``invalid``, ``busy``.
        self._fetched = fetched
        self._clock = clock
        self._cache: dict[tuple[str, str], _Remembered] = {}
        self._flights: dict[tuple[str, str], asyncio.Task[object]] = {}
        self._slots = _Slots(policy.max_fetches, policy.max_fetches_per_host)

    async def get_json(
        self,
        kind: str,
        url: str,
        *,
        max_bytes: int,
        parse: Callable[[object], T],
        fresh: bool = False,
        allow_private_network: bool = False,
    ) -> T:
        """The JSON at ``url``, turned into a value by ``parse`` (which raises on an invalid one).

        ``kind`` keeps apart cached values of the same URL parsed differently. Raises
        :class:`FetchFailed` or whatever ``parse`` raises, both remembered for ``failure_ttl``
        seconds; :class:`Busy`, or whatever ``before_fetch`` raises, neither remembered.
        A request for a URL already being fetched waits for that fetch instead of making another.
        ``fresh``: a cached answer is not used (an identity provider's JWK Set after a key rotation).
        ``allow_private_network``: addresses in private-use ranges are admitted too (:func:`is_private_network`),
        for an identity provider the operator placed on the organisation's network; kept apart in the cache.
        """
        problem = url_problem(url, allow_loopback=self._policy.allow_loopback)
        if problem:
            raise FetchFailed(f"the URL is not allowed: {problem}")
        key = (kind + ("+private" if allow_private_network else ""), url)
        remembered = self._cache.get(key)
        if remembered is not None and remembered.expires > self._clock() and not fresh:
            return cast(T, remembered.answer())  # what ``parse`` made: ``kind`` is in the key
        flight = self._flights.get(key)
        if flight is None:
            self._cache.pop(key, None)
            self._before_fetch()
            flight = asyncio.create_task(self._fly(key, url, max_bytes, parse, allow_private_network))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        try:
            return cast(T, await asyncio.shield(flight))
        except Exception as failure:  # each request raises its own copy of the one outcome
            raise _copy(failure).with_traceback(failure.__traceback__) from None

    async def _fly(
        self, key: tuple[str, str], url: str, max_bytes: int, parse: Callable[[object], object], private: bool
    ) -> object:
        """Fetch ``url`` in a slot, parse it, and remember the outcome (a value as long as it may be kept)."""
        try:
            async with self._slots.slot(urlsplit(url).hostname or "", self._policy.slot_wait):
                try:
                    try:
                        async with asyncio.timeout(self._policy.timeout):
                            body, max_age = await self._fetch(url, max_bytes, private)
                    except TimeoutError:
                        raise FetchFailed(f"no answer within {self._policy.timeout:g} s") from None
                    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
                        raise FetchFailed(f"it cannot be reached ({type(exc).__name__})") from None
                except FetchFailed as failure:
                    self._fetched("failed")
                    self._remember(key, self._policy.failure_ttl, failure=failure)
                    raise
        except Busy:
            self._fetched("busy")
            raise
        try:
            value = parse(body)
        except Exception as refused:
            self._fetched("invalid")
            self._remember(key, self._policy.failure_ttl, failure=refused)
            raise
        self._fetched("ok")
        if max_age is not None:
            self._remember(key, min(max(max_age, self._policy.cache_min), self._policy.cache_max), value=value)
        return value

    def _remember(
        self, key: tuple[str, str], ttl: int, *, value: object = None, failure: Exception | None = None
    ) -> None:
        if ttl <= 0:
            return
        while len(self._cache) >= MAX_CACHED:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = _Remembered(self._clock() + ttl, value, failure)

    def _landed(self, key: tuple[str, str], flight: asyncio.Task[object]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here, so that no waiter left means no "never retrieved" warning

    async def _fetch(self, url: str, max_bytes: int, private: bool) -> tuple[object, int | None]:
        parts = urlsplit(url)
        host = ascii_host(parts.hostname or "") or ""  # url_problem made sure there is one
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await self._checked_address(host, port, private)
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        netloc = parts.netloc if parts.netloc.isascii() else (f"{host}:{parts.port}" if parts.port else host)
        headers = {"Host": netloc, "Accept": "application/json", "Accept-Encoding": "identity"}
        async with (
            httpx2.AsyncClient(follow_redirects=False, trust_env=False, timeout=self._policy.timeout) as http,
            http.stream("GET", pinned, headers=headers, extensions={"sni_hostname": host}) as response,
        ):
            if response.is_redirect:
                raise FetchFailed(f"it answered with a redirect ({response.status_code}), which is not followed")
            if response.status_code != 200:
                raise FetchFailed(f"it answered with status {response.status_code}, not 200")
            media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type not in _JSON_TYPES and not media_type.endswith("+json"):
                raise FetchFailed(f"it is not JSON (content type {media_type or 'missing'!r})")
            body = await _capped_body(response, max_bytes)
            max_age = _max_age(response.headers.get("cache-control", ""))
        try:
            return json.loads(body), max_age
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            raise FetchFailed("its body is not valid JSON") from None

    async def _checked_address(self, host: str, port: int, private: bool) -> str:
        """The one address to connect to; refused if any address of ``host`` is special-use (but loopback with
        ``allow_loopback``, a private-use one with ``private``).

        A name that does not resolve and one that resolves to a special-use address get the
        same text: a different one would let anyone map this server's internal DNS.
        """
        refused = FetchFailed(
            f"the host {host} cannot be used: it does not resolve, or it resolves to a special-use address"
            " (RFC 6890), which is refused"
        )
        try:
            addresses = await self._resolve(host, port)
        except (OSError, UnicodeError):
            raise refused from None
        if not addresses:
            raise refused
        for address in addresses:
            loopback = ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
            admitted = (loopback and self._policy.allow_loopback) or (private and is_private_network(address))
            if is_special_use(address) and not admitted:
                raise refused
        return addresses[0]


@dataclass(frozen=True)
class _Remembered:
    """A cached outcome: the value ``parse`` made, or the failure, until ``expires`` (monotonic seconds)."""

    expires: float
    value: object
    failure: Exception | None

    def answer(self) -> object:
        if self.failure is not None:
            raise _copy(self.failure)
        return self.value


def _copy(failure: Exception) -> Exception:
    """A copy of ``failure`` to raise once more, so that requests sharing it do not share its traceback."""
    try:
        return copy.copy(failure)
    except Exception:  # an exception class whose arguments cannot be replayed: raise it as it is
        return failure


class _Slots:
    """At most ``total`` fetches at once, and ``per_host`` of them to one host; a wait has a deadline."""

    def __init__(self, total: int, per_host: int) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_host = per_host
        #: host -> its semaphore and how many fetches hold or wait for it (dropped at none).
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def slot(self, host: str, wait: float) -> AsyncIterator[None]:
        """Hold a slot for a fetch from ``host``, or raise :class:`Busy` after ``wait`` seconds."""
        semaphore = self._join(host)
        try:
            async with asyncio.timeout(wait):
                await semaphore.acquire()
                try:
                    await self._total.acquire()
                except BaseException:
                    semaphore.release()
                    raise
        except TimeoutError:
            self._leave(host)
            raise Busy("this server is fetching too many client documents at once; try again in a moment") from None
        except BaseException:
            self._leave(host)
            raise
        try:
            yield
        finally:
            self._total.release()
            semaphore.release()
            self._leave(host)

    def _join(self, host: str) -> asyncio.Semaphore:
        semaphore, users = self._hosts.get(host) or (asyncio.Semaphore(self._per_host), 0)
        self._hosts[host] = (semaphore, users + 1)
        return semaphore

    def _leave(self, host: str) -> None:
        semaphore, users = self._hosts[host]
        if users <= 1:
            del self._hosts[host]
        else:
            self._hosts[host] = (semaphore, users - 1)


async def _capped_body(response: httpx2.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed(f"it is larger than {max_bytes} bytes")
    body = b""
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise FetchFailed(f"it is larger than {max_bytes} bytes")
    return body


def _max_age(cache_control: str) -> int | None:
    """Seconds the answer may be reused (RFC 9111 §5.2.2.1); ``None`` for ``no-store``/``no-cache``."""
    max_age = 0
    for directive in cache_control.lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return None
        if name == "max-age" and value.strip('"').isdigit():
            max_age = int(value.strip('"'))
    return max_age
