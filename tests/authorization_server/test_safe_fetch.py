"""The SSRF-safe fetcher (``authorization_server/safe_fetch.py``), driven directly against real sockets.

Only name resolution is replaced, where a test needs a name that resolves to chosen addresses:
this machine has no DNS for the internet (AS-52; CIMD §6.5, §6.6; RFC 6890).
"""

import asyncio
import threading
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_authz.authorization_server.safe_fetch import Busy, FetchFailed, FetchPolicy, SafeFetcher, is_special_use
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


class Clock:
    """A monotonic clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fetcher(
    *,
    allow_loopback: bool = False,
    resolver: Resolver | None = None,
    before_fetch: Callable[[], None] = lambda: None,
    clock: Clock | None = None,
    **policy: float,
) -> SafeFetcher:
    chosen = {"timeout": 5.0, "cache_min": 0, "cache_max": 3600} | policy
    made = FetchPolicy(
        allow_loopback,
        chosen["timeout"],
        int(chosen["cache_min"]),
        int(chosen["cache_max"]),
        failure_ttl=int(chosen.get("failure_ttl", 30)),
        max_fetches=int(chosen.get("max_fetches", 16)),
        max_fetches_per_host=int(chosen.get("max_fetches_per_host", 2)),
        slot_wait=chosen.get("slot_wait", 1.0),
    )
    extra = {"resolve": resolver} if resolver else {}
    return SafeFetcher(made, before_fetch=before_fetch, clock=clock or Clock(), **extra)  # type: ignore[arg-type]


async def fetch(made: SafeFetcher, url: str, parse: Callable[[object], object] = lambda body: body) -> object:
    return await made.get_json("test", url, max_bytes=5 * 1024, parse=parse)


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
    clock = Clock()
    made = fetcher(allow_loopback=True, cache_max=1, clock=clock)

    await fetch(made, documents.url("/capped.json"))
    await fetch(made, documents.url("/capped.json"))
    clock.now += 1.1
    await fetch(made, documents.url("/capped.json"))

    assert documents.hits["/capped.json"] == 2


async def test_a_document_without_max_age_is_kept_for_the_minimum(documents: DocumentServer):
    """AS-55: without caching headers the server's minimum applies, so one client cannot make it fetch per request."""
    documents.serve("/plain.json", Answer.json({"n": 1}))
    made = fetcher(allow_loopback=True, cache_min=60)

    await fetch(made, documents.url("/plain.json"))
    await fetch(made, documents.url("/plain.json"))

    assert documents.hits["/plain.json"] == 1


async def test_a_failure_is_remembered_briefly_then_fetched_again(documents: DocumentServer):
    """Issue 11 item 5, CIMD §4.4: 20 requests for a 404 document make one fetch; once failure_ttl has
    passed, the next request fetches again and gets the document that now answers."""
    path = "/remembered/404.json"
    documents.serve(path, Answer(404, b"{}"), Answer.json({"n": 1}))
    clock = Clock()
    made = fetcher(allow_loopback=True, clock=clock, failure_ttl=30)

    for _ in range(20):
        with pytest.raises(FetchFailed, match="status 404"):
            await fetch(made, documents.url(path))
    assert documents.hits[path] == 1

    clock.now += 31
    assert await fetch(made, documents.url(path)) == {"n": 1}
    assert documents.hits[path] == 2


async def test_a_value_parse_refuses_is_remembered_as_a_failure(documents: DocumentServer):
    """Issue 11 item 5: an invalid document costs one fetch per failure_ttl too, and says the same each time."""
    path = "/remembered/invalid.json"
    documents.serve(path, Answer.json({"n": 1}))

    def refuse(body: object) -> object:
        raise ValueError("not a client")

    made = fetcher(allow_loopback=True, failure_ttl=30)

    for _ in range(3):
        with pytest.raises(ValueError, match="not a client"):
            await fetch(made, documents.url(path), refuse)
    assert documents.hits[path] == 1


async def test_a_failure_ttl_of_zero_remembers_nothing(documents: DocumentServer):
    """--client-metadata-failure-cache 0: every request fetches again, as before issue 11."""
    path = "/remembered/never.json"
    documents.serve(path, Answer(500, b"{}"))
    made = fetcher(allow_loopback=True, failure_ttl=0)

    for _ in range(2):
        with pytest.raises(FetchFailed):
            await fetch(made, documents.url(path))
    assert documents.hits[path] == 2


async def test_concurrent_requests_for_one_url_share_one_fetch(documents: DocumentServer):
    """Issue 11 item 5, single flight: ten requests for a URL being fetched wait for that fetch, and
    only the fetch that goes out is charged (before_fetch)."""
    gate = threading.Event()
    path = "/flight/client.json"
    documents.serve(path, Answer.json({"n": 1}).held(gate))
    charged = []
    made = fetcher(allow_loopback=True, before_fetch=lambda: charged.append(1))
    try:
        requests = [asyncio.create_task(fetch(made, documents.url(path))) for _ in range(10)]
        assert await asyncio.to_thread(documents.wait_until, lambda server: server.hits.get(path) == 1)
    finally:
        gate.set()

    assert await asyncio.gather(*requests) == [{"n": 1}] * 10
    assert documents.hits[path] == 1
    assert charged == [1]


@pytest.mark.parametrize(
    "limits",
    [{"max_fetches": 2, "max_fetches_per_host": 16}, {"max_fetches": 16, "max_fetches_per_host": 2}],
    ids=["global", "per-host"],
)
async def test_fetches_beyond_the_cap_are_busy_not_queued(documents: DocumentServer, limits: dict[str, int]):
    """Issue 11 item 5: with every slot held, five requests make two fetches; the three others are
    Busy after slot_wait, while the two are still held; nothing waits for ever."""
    gate = threading.Event()
    urls = [documents.serve(f"/capped/{n}.json", Answer.json({"n": n}).held(gate)) for n in range(5)]
    made = fetcher(allow_loopback=True, slot_wait=0.3, **limits)
    documents.reset_peak()
    try:
        requests = [asyncio.create_task(fetch(made, url)) for url in urls]
        done, _ = await asyncio.wait(requests, timeout=5, return_when=asyncio.FIRST_EXCEPTION)
        busy = [task for task in done if isinstance(task.exception(), Busy)]
        assert await asyncio.to_thread(documents.wait_until, lambda server: server.in_flight == 2)
        assert documents.peak == 2
    finally:
        gate.set()
    outcomes = await asyncio.gather(*requests, return_exceptions=True)

    assert sum(isinstance(outcome, Busy) for outcome in outcomes) == 3
    assert len([outcome for outcome in outcomes if isinstance(outcome, dict)]) == 2
    assert busy  # the first Busy came while the two fetches were still held


async def test_one_busy_host_does_not_block_another(documents: DocumentServer):
    """Issue 11 item 5: the per-host cap is per host; a second host still gets a slot."""
    gate = threading.Event()
    held = [documents.serve(f"/host/{n}.json", Answer.json({"n": n}).held(gate)) for n in range(2)]
    documents.serve("/host/other.json", Answer.json({"other": True}))
    made = fetcher(allow_loopback=True, slot_wait=0.3, max_fetches_per_host=2)
    try:
        requests = [asyncio.create_task(fetch(made, url)) for url in held]
        assert await asyncio.to_thread(documents.wait_until, lambda server: server.in_flight >= 2)
        other = await fetch(made, f"http://localhost:{documents.port}/host/other.json")
        with pytest.raises(Busy):
            await fetch(made, documents.url("/host/third.json"))
    finally:
        gate.set()
    await asyncio.gather(*requests)

    assert other == {"other": True}


async def test_a_name_that_does_not_resolve_reads_like_a_special_use_one():
    """Issue 11 item 5: one text for "no such name" and "a private address", so errors cannot map internal DNS."""

    async def no_such_name(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    texts = []
    for resolver in (no_such_name, Resolver("10.0.0.5"), Resolver()):
        made = SafeFetcher(FetchPolicy(False, 5.0, 0, 3600), resolver)
        with pytest.raises(FetchFailed) as failure:
            await fetch(made, "https://internal.example/client.json")
        texts.append(str(failure.value))

    assert len(set(texts)) == 1, texts
    assert "special-use address" in texts[0]


HOSTILE_HOSTS = ["%E2%80%AE.com", "a" * 64 + ".com", "a..com", "\u202e.com", ".com", "a." * 130 + "com"]


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
async def test_a_host_the_idna_codec_refuses_is_a_fetch_failure_not_a_crash(host: str):
    """Issue 11 item 7 (RFC 5890 §2.3.1, RFC 1035 §2.3.4): refused as not a domain name, before any lookup."""
    resolver = Resolver("93.184.216.34")

    with pytest.raises(FetchFailed, match="its host is not a valid domain name"):
        await fetch(fetcher(resolver=resolver), f"https://{host}/client.json")
    assert resolver.asked == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=st.text(min_size=1, max_size=80))
def test_whatever_the_host_the_fetcher_only_ever_refuses(host: str):
    """Issue 11 item 7: any host text gives FetchFailed (never UnicodeError, ValueError, ...); a resolver
    answering a private address keeps it from connecting anywhere."""
    made = fetcher(resolver=Resolver("10.0.0.5"))

    async def attempt() -> None:
        with pytest.raises(FetchFailed):
            await fetch(made, f"https://{host}/client.json")

    asyncio.run(attempt())
