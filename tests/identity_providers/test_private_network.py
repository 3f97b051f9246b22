"""Decision 0047: an in-house identity provider on a private network, admitted per provider by the operator.

The SSRF-safe fetcher refuses every special-use address (RFC 6890; RFC 9700 §4.15 on SSRF through
fetched documents). ``identity-providers add --allow-private-network`` admits the private-use
ranges (RFC 1918, RFC 4193), and only them, for that provider's discovery document and JWK Set.
Name resolution is the fetcher's seam, as in ``tests/authorization_server/test_safe_fetch.py``;
here the connection is answered by an in-memory transport that records where it went, since no
host of this machine sits at 10.0.0.5.
"""

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.errors import UpstreamSignInFailed
from mcp_authz.authorization_server.flow.authorization.openid import OpenIdProviders
from mcp_authz.authorization_server.identity_providers.entities import IdentityProvider
from mcp_authz.authorization_server.safe_fetch import FetchFailed, FetchPolicy, SafeFetcher, is_private_network

pytestmark = pytest.mark.anyio

ISSUER = "https://keycloak.corp.example/realms/staff"


class Resolver:
    """Resolves every name to ``address``."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def __call__(self, host: str, port: int) -> list[str]:
        return [self.address]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[httpx2.Request]]:
    """Every request the fetcher sends, answered with the provider's discovery document instead of going out."""
    sent: list[httpx2.Request] = []
    real = httpx2.AsyncClient

    def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        base = ISSUER + "/protocol/openid-connect"
        document = {"issuer": ISSUER, "authorization_endpoint": base + "/auth", "token_endpoint": base + "/token",
                    "jwks_uri": base + "/certs"}  # fmt: skip
        headers = {"content-type": "application/json", "cache-control": "max-age=60"}
        return httpx2.Response(200, headers=headers, stream=httpx2.ByteStream(json.dumps(document).encode()))

    def recorded(**options: Any) -> httpx2.AsyncClient:
        return real(transport=httpx2.MockTransport(answer), **options)

    monkeypatch.setattr(httpx2, "AsyncClient", recorded)
    yield sent


def provider(*, allow_private_network: bool) -> IdentityProvider:
    return IdentityProvider(
        id="idp_x", name="staff", issuer=ISSUER, client_id="mcp-as", auth_method="client_secret_basic",
        client_secret_env="S", scopes=("openid",), allowed_domains=(), claim_rules=(), created_at=clock.now(),
        allow_private_network=allow_private_network,
    )  # fmt: skip


def fetcher(address: str, *, allow_loopback: bool = False) -> SafeFetcher:
    return SafeFetcher(FetchPolicy(allow_loopback, 5.0, 0, 3600), Resolver(address))


@pytest.mark.parametrize("address", ["10.0.0.5", "172.16.0.1", "172.31.255.254", "192.168.1.1", "fd00::1"])
def test_private_use_ranges(address: str):
    """RFC 1918 and RFC 4193: what an organisation numbers its hosts from."""
    assert is_private_network(address)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "169.254.169.254", "100.64.0.1", "::1", "fe80::1", "::ffff:10.0.0.5", "8.8.8.8"]
)
def test_not_private_use_ranges(address: str):
    """Loopback, link-local (cloud metadata), shared CGNAT space and mapped forms stay refused whatever the opt-in."""
    assert not is_private_network(address)


async def test_a_provider_on_a_private_address_is_refused_without_the_opt_in_and_reached_with_it(
    connections: list[httpx2.Request],
):
    """Decision 0047, RFC 9700 §4.15: discovery of a provider at 10.0.0.5 is refused before any connection unless
    the operator allowed a private network for that provider; then the document is read from the checked
    address, the Host header still the provider's name. One fetcher serves both: neither answer is cached for
    the other."""
    openid = OpenIdProviders(fetcher("10.0.0.5"))

    with pytest.raises(UpstreamSignInFailed) as refused:
        await openid.configuration(provider(allow_private_network=False))
    assert "special-use address" in (refused.value.detail or "")
    assert connections == []

    found = await openid.configuration(provider(allow_private_network=True))
    assert found.issuer == ISSUER
    [sent] = connections
    assert (sent.url.host, sent.headers["host"]) == ("10.0.0.5", "keycloak.corp.example")

    with pytest.raises(UpstreamSignInFailed) as again:  # the cached document is not shared
        await openid.configuration(provider(allow_private_network=False))
    assert "special-use address" in (again.value.detail or "")
    assert len(connections) == 1


@pytest.mark.parametrize("address", ["169.254.169.254", "127.0.0.1", "100.64.0.1"])
async def test_the_opt_in_admits_no_other_special_use_address(address: str, connections: list[httpx2.Request]):
    """Decision 0047: cloud metadata (link-local), loopback (still only with --allow-loopback-client-metadata) and
    CGNAT stay refused for an in-house provider."""
    with pytest.raises(FetchFailed, match="special-use address"):
        await fetcher(address).get_json(
            "test", ISSUER, max_bytes=4096, parse=lambda body: body, allow_private_network=True
        )
    assert connections == []
