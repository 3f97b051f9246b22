"""Loopback addresses, where OAuth allows plain http (RFC 8252 §7.3, §8.3).

OAuth 2.1 §1.5 requires TLS everywhere except for loopback redirects; MCP's rule is "localhost
or HTTPS". RFC 8252 §7.3 also lets the port of a loopback redirect URI vary at request time.

A loopback host is one of three names as written: ``localhost``, ``127.0.0.1``, ``[::1]``; not
the rest of 127.0.0.0/8 nor other spellings of those addresses. Where the address a name resolves
to matters (SSRF), the authorization server judges the address itself (``safe_fetch.py``).
"""

from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, ``127.0.0.1`` or ``::1`` (``urlsplit`` strips the brackets of ``[::1]``)."""
    return host is not None and host.lower() in LOOPBACK_HOSTS


def is_https_or_loopback_http(url: str, *, loopback_http: bool = True) -> bool:
    """``https``, or plain ``http`` to a loopback host: the one transport rule of the programs.

    OAuth 2.1 §1.5 (TLS, but for loopback), MCP's "localhost or HTTPS". ``loopback_http=False``
    admits ``https`` only. Only the scheme and the host are judged: a missing host, a fragment or
    user info are each caller's own rule. Unlike :func:`is_loopback_http`, a URL that does not
    split raises ``ValueError`` (``urlsplit``'s), as every caller's own parse did before.
    """
    parts = urlsplit(url)
    return parts.scheme == "https" or (loopback_http and parts.scheme == "http" and is_loopback_host(parts.hostname))


def is_loopback_http(url: str) -> bool:
    """An ``http`` URL whose host is a loopback address (a malformed URL is not)."""
    try:
        parts = urlsplit(url)
        return parts.scheme == "http" and is_loopback_host(parts.hostname)
    except ValueError:
        return False
