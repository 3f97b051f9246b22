"""Loopback addresses, where OAuth allows plain http (RFC 8252 §7.3, §8.3).

OAuth 2.1 §1.5 requires TLS everywhere except for loopback redirects; MCP's rule is "localhost
or HTTPS". RFC 8252 §7.3 also lets the port of a loopback redirect URI vary at request time.
"""

from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, ``127.0.0.1`` or ``::1`` (``urlsplit`` strips the brackets of ``[::1]``)."""
    return host is not None and host.lower() in LOOPBACK_HOSTS


def is_loopback_http(url: str) -> bool:
    """An ``http`` URL whose host is a loopback address (a malformed URL is not)."""
    try:
        parts = urlsplit(url)
        return parts.scheme == "http" and is_loopback_host(parts.hostname)
    except ValueError:
        return False
