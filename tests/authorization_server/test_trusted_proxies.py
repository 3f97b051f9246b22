"""Behind a reverse proxy (AS-11, docs/decisions/0019): forwarded headers from trusted proxies only.

The tests send from 127.0.0.1, which plays the proxy. The registration limit (2 a minute, per
client address) shows which address the server believed: with 127.0.0.1 among the trusted
proxies, the address in ``X-Forwarded-For`` counts; otherwise the forwarded address is ignored and
every request counts against 127.0.0.1.
"""

from pathlib import Path

import httpx2
import pytest

from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import PUBLIC_CLIENT

LIMIT = ("--rate-limit-register", "2/min")


def register_from(http: httpx2.Client, server: AuthorizationServer, address: str) -> int:
    """Register as if a proxy forwarded the request of ``address``; the status."""
    headers = {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}
    return http.post(f"{server.url}/register", json=PUBLIC_CLIENT, headers=headers).status_code


@pytest.mark.as_options("--trusted-proxies", "127.0.0.1", *LIMIT)
def test_a_trusted_proxy_s_forwarded_address_is_the_one_rate_limits_count(
    fresh_as: AuthorizationServer, http: httpx2.Client
):
    """AS-11, AS-49: behind a trusted proxy each real client address has its own bucket."""
    assert [register_from(http, fresh_as, "203.0.113.7") for _ in range(3)] == [201, 201, 429]

    assert register_from(http, fresh_as, "203.0.113.8") == 201


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(LIMIT, id="no trusted proxies"),
        pytest.param(("--trusted-proxies", "10.0.0.0/8", *LIMIT), id="another proxy"),
    ],
)
def test_forwarded_headers_from_anyone_else_are_ignored(options: tuple[str, ...], tmp_path: Path, http: httpx2.Client):
    """AS-11, decision 0019: a client cannot pick its own address by sending X-Forwarded-For."""
    server = start_authorization_server(tmp_path, *options, demo=False)
    try:
        assert [register_from(http, server, f"203.0.113.{n}") for n in range(3)] == [201, 201, 429]
    finally:
        server.program.stop()
