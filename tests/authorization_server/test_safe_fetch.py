"""The SSRF-safe fetcher (``authorization_server/safe_fetch.py``), driven directly against real sockets.

Only name resolution is replaced, where a test needs a name that resolves to chosen addresses:
this machine has no DNS for the internet (AS-52; CIMD §6.5, §6.6; RFC 6890).
"""

import asyncio

import pytest

from authorization_server.safe_fetch import FetchFailed, FetchPolicy, SafeFetcher, is_special_use
from tests.documents import Answer, DocumentServer, silent_listener

pytestmark = pytest.mark.anyio

SPECIAL_USE = [
    "127.0.0.1",  # loopback
    "10.0.0.5",  # private
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local: cloud metadata
    "100.64.0.1",  # shared address space (CGNAT)
    "0.0.0.0",  # noqa: S104 - unspecified, as a string to check, never bound
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",  # broadcast
    "192.0.2.1",  # documentation
    "198.51.100.1",
    "203.0.113.1",
    "198.18.0.1",  # benchmarking
    "192.0.0.1",  # IETF protocol assignments
    "::1",
    "::",
    "fe80::1",
    "fd00::1",  # unique local
    "fec0::1",  # site-local
    "ff02::1",  # multicast
    "::ffff:10.0.0.5",  # IPv4-mapped
    "::ffff:8.8.8.8",  # IPv4-mapped, even of a public address
    "2001:db8::1",  # documentation
    "2002:a00:5::1",  # 6to4 of 10.0.0.5
    "2001::1",  # Teredo
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "100::1",  # discard-only
]


class Resolver:
    """Resolves every name to ``addresses`` and remembers the names it was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.addresses


def fetcher(*, allow_loopback: bool = False, resolver: Resolver | None = None, **policy: float) -> SafeFetcher:
    settings = {"timeout": 5.0, "cache_min": 0, "cache_max": 3600} | policy
    chosen = FetchPolicy(allow_loopback, settings["timeout"], int(settings["cache_min"]), int(settings["cache_max"]))
    return SafeFetcher(chosen, resolver) if resolver else SafeFetcher(chosen)


async def fetch(made: SafeFetcher, url: str) -> object:
    return await made.get_json("test", url, max_bytes=5 * 1024, parse=lambda body: body)


@pytest.mark.parametrize("address", SPECIAL_USE)
def test_special_use_addresses_are_recognised(address: str):
    """AS-52, RFC 6890: every special-use range, and IPv6 forms that reach IPv4 ones, is refused."""
    assert is_special_use(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_unicast_addresses_are_allowed(address: str):
    assert not is_special_use(address)


async def test_a_name_with_any_special_use_address_is_refused_before_connecting():
    """AS-52: one private address among public ones is enough; nothing connects, not even to the public one."""
    with silent_listener() as listener:
        made = fetcher(resolver=Resolver("93.184.216.34", "127.0.0.1"))

        with pytest.raises(FetchFailed, match="special-use address"):
            await fetch(made, f"https://documents.test:{listener.port}/client.json")

        assert not listener.connected()


async def test_the_connection_goes_to_the_checked_address_with_the_hostname_kept(documents: DocumentServer):
    """AS-52, DNS rebinding: the name is resolved once, the checked address is connected to, and the Host
    header still names the host (a name the system resolver could not even resolve)."""
    documents.serve("/pinned.json", Answer.json({"ok": True}))
    resolver = Resolver("127.0.0.1")
    made = fetcher(allow_loopback=True, resolver=resolver)

    body = await fetch(made, f"http://localhost:{documents.port}/pinned.json")

    assert body == {"ok": True}
    assert resolver.asked == ["localhost"]
    assert documents.hosts["/pinned.json"] == f"localhost:{documents.port}"


async def test_the_switch_admits_loopback_only_not_private_addresses():
    """Decision 0015: --allow-loopback-client-metadata admits loopback, never other special-use addresses."""
    made = fetcher(allow_loopback=True, resolver=Resolver("10.0.0.5"))

    with pytest.raises(FetchFailed, match="special-use address"):
        await fetch(made, "https://documents.test/client.json")


async def test_a_server_that_never_answers_times_out():
    """AS-52: one timeout bounds the whole exchange."""
    with silent_listener() as listener:
        made = fetcher(allow_loopback=True, timeout=0.5)

        with pytest.raises(FetchFailed, match=r"no answer within 0.5 s"):
            await fetch(made, f"http://127.0.0.1:{listener.port}/client.json")


async def test_max_age_is_capped_by_the_maximum(documents: DocumentServer):
    """AS-55: a year of max-age is reused only for cache_max seconds."""
    documents.serve("/capped.json", Answer.json({"n": 1}, **{"Cache-Control": "max-age=31536000"}))
    made = fetcher(allow_loopback=True, cache_max=1)

    await fetch(made, documents.url("/capped.json"))
    await fetch(made, documents.url("/capped.json"))
    await asyncio.sleep(1.1)
    await fetch(made, documents.url("/capped.json"))

    assert documents.hits["/capped.json"] == 2


async def test_a_document_without_max_age_is_kept_for_the_minimum(documents: DocumentServer):
    """AS-55: without caching headers the server's minimum applies, so one client cannot make it fetch per request."""
    documents.serve("/plain.json", Answer.json({"n": 1}))
    made = fetcher(allow_loopback=True, cache_min=60)

    await fetch(made, documents.url("/plain.json"))
    await fetch(made, documents.url("/plain.json"))

    assert documents.hits["/plain.json"] == 1
