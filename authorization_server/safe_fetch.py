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
  bounds (``no-store``/``no-cache``: not at all); errors and values ``parse`` refuses never are.

``FetchPolicy.allow_loopback`` (``--allow-loopback-client-metadata``, on in demo mode) admits
http and https URLs on loopback hosts and loopback addresses, for tests and the demo; nothing
else special-use, ever.
"""

import asyncio
import ipaddress
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx2

from shared.loopback import is_loopback_host

T = TypeVar("T")
MAX_URL_LENGTH = 2000
#: At most this many answers are cached; the oldest make room for new ones.
MAX_CACHED = 1000
#: RFC 6052 §2.1 and RFC 8215: NAT64 prefixes, which translate to IPv4 addresses of any kind.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_JSON_TYPES = ("application/json", "application/jwk-set+json")

#: Resolves a host and port to IP address strings; ``loop.getaddrinfo`` unless a test gives another.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class FetchFailed(Exception):
    """Why a URL could not be used; the text names no secret and may be shown to the client."""


@dataclass(frozen=True)
class FetchPolicy:
    allow_loopback: bool
    timeout: float
    #: Bounds, in seconds, on how long a valid answer is reused (CIMD §4.4).
    cache_min: int
    cache_max: int


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
    loopback = allow_loopback and is_loopback_host(parts.hostname)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        return "it must be an https URL"
    if not parts.hostname:
        return "it has no host"
    if "@" in parts.netloc:
        return "it must not carry user information"
    if parts.fragment or "#" in url:
        return "it must not have a fragment"
    return None


def is_special_use(address: str) -> bool:
    """Whether ``address`` is special-use (RFC 6890) or may reach one; only public unicast is not."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        return bool(ip.ipv4_mapped or ip.sixtofour or ip.teredo or ip.is_site_local or any(ip in net for net in _NAT64))
    return False


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class SafeFetcher:
    """GETs JSON from client-given URLs under :class:`FetchPolicy`, caching what ``parse`` accepted."""

    def __init__(self, policy: FetchPolicy, resolve: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolve = resolve
        self._cache: dict[tuple[str, str], tuple[float, object]] = {}

    async def get_json(self, kind: str, url: str, *, max_bytes: int, parse: Callable[[object], T]) -> T:
        """The JSON at ``url``, turned into a value by ``parse`` (which raises on an invalid one).

        ``kind`` keeps apart cached values of the same URL parsed differently. Raises
        :class:`FetchFailed`, or whatever ``parse`` raises; neither outcome is cached.
        """
        key = (kind, url)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]  # type: ignore[return-value]
        self._cache.pop(key, None)
        try:
            async with asyncio.timeout(self._policy.timeout):
                body, max_age = await self._fetch(url, max_bytes)
        except TimeoutError:
            raise FetchFailed(f"no answer within {self._policy.timeout:g} s") from None
        except httpx2.HTTPError as exc:
            raise FetchFailed(f"it cannot be reached ({type(exc).__name__})") from None
        value = parse(body)
        if max_age is not None:
            ttl = min(max(max_age, self._policy.cache_min), self._policy.cache_max)
            while len(self._cache) >= MAX_CACHED:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = (time.monotonic() + ttl, value)
        return value

    async def _fetch(self, url: str, max_bytes: int) -> tuple[object, int | None]:
        problem = url_problem(url, allow_loopback=self._policy.allow_loopback)
        if problem:
            raise FetchFailed(f"the URL is not allowed: {problem}")
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await self._checked_address(host, port)
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        headers = {"Host": parts.netloc, "Accept": "application/json", "Accept-Encoding": "identity"}
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

    async def _checked_address(self, host: str, port: int) -> str:
        """The one address to connect to; refused if any address of ``host`` is special-use."""
        try:
            addresses = await self._resolve(host, port)
        except OSError:
            raise FetchFailed(f"the host {host} cannot be resolved") from None
        if not addresses:
            raise FetchFailed(f"the host {host} cannot be resolved")
        for address in addresses:
            loopback = ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
            if is_special_use(address) and not (loopback and self._policy.allow_loopback):
                raise FetchFailed(f"the host {host} resolves to a special-use address (RFC 6890), which is refused")
        return addresses[0]


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
