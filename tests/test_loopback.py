"""The one transport rule of the three programs (issue 12, "one name per concept"): ``shared/loopback.py``.

OAuth 2.1 §1.5 and MCP's "localhost or HTTPS": https to any host, plain http only to a loopback
host written as ``localhost``, ``127.0.0.1`` or ``[::1]`` (RFC 8252 §7.3, §8.3). The callers
(issuer setting, redirect URIs, fetched URLs, provider URLs and endpoints, the client's options
and followed URLs) have their own tests; this pins the rule they now share.
"""

import pytest

from mcp_authz.shared.loopback import is_https_or_loopback_http


@pytest.mark.parametrize(
    "url",
    [
        "https://as.example.com/token",
        "https://127.0.0.2/x",
        "HTTPS://AS.EXAMPLE.COM",
        "http://localhost:9000",
        "http://LOCALHOST/callback",
        "http://127.0.0.1:8000/mcp",
        "http://[::1]:8000/mcp",
        "HTTP://127.0.0.1",
    ],
)
def test_https_anywhere_and_http_on_the_three_loopback_names_are_allowed(url: str):
    """OAuth 2.1 §1.5: TLS, but for loopback; scheme and host compared case-insensitively (RFC 3986 §3.1, §3.2.2)."""
    assert is_https_or_loopback_http(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://as.example.com",
        "http://127.0.0.2/",  # 127.0.0.0/8 beyond 127.0.0.1: no caller ever took it
        "http://[::ffff:127.0.0.1]/",
        "http://localhost.example.com/",
        "http://2130706433/",
        "ftp://localhost/",
        "javascript://localhost/%0aalert(1)",
        "//localhost/",
        "localhost:9000",
    ],
)
def test_plain_http_elsewhere_and_other_schemes_are_refused(url: str):
    """OAuth 2.1 §1.5, MCP "localhost or HTTPS": nothing else, whatever the spelling."""
    assert not is_https_or_loopback_http(url)


def test_without_loopback_http_only_https_is_allowed():
    """``safe_fetch.url_problem`` without ``--allow-loopback-client-metadata`` (CIMD §6.5): https only."""
    assert is_https_or_loopback_http("https://localhost/doc.json", loopback_http=False)
    assert not is_https_or_loopback_http("http://localhost/doc.json", loopback_http=False)


def test_a_url_that_does_not_split_raises_as_the_callers_parse_did():
    """No behaviour change: the callers split the URL themselves first, and urlsplit's ValueError stands."""
    with pytest.raises(ValueError):
        is_https_or_loopback_http("http://[::1/")
