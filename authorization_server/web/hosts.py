"""Hosts as the pages show them: in their A-label (punycode) form, so that look-alikes show (issue 11 item 11).

The consent and connected-apps pages tell the user where answers go and who publishes a client's
metadata document (CIMD §6.3; MCP Security Considerations, Confused Deputy). A host such as
``\\u0430pple.example`` (a Cyrillic a, U+0430) reads like ``apple.example`` when shown as it was written;
its A-label, ``xn--pple-43d.example`` (RFC 5890 §2.3.2.1, RFC 3492), does not. Labels are
converted with Python's IDNA codec (nameprep, RFC 3490 ToASCII), which also maps what a browser
maps (full-width letters, characters mapped to nothing) so the page names the host the browser
would reach; a label that IDNA refuses (bidi controls, say) is shown as the raw punycode of its
characters, never as the characters themselves. Pure functions: no I/O.
"""

from urllib.parse import urlsplit, urlunsplit


def a_label(host: str) -> str:
    """``host`` with every non-ASCII label as its A-label; an ASCII host is returned as it is."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return ".".join(_raw_a_label(label) for label in host.replace("\u3002", ".").split("."))


def host_of(url: str) -> str:
    """The host of ``url`` in A-label form; empty if it has none or cannot be parsed."""
    try:
        return a_label(urlsplit(url).hostname or "")
    except ValueError:
        return ""


def with_a_label_host(url: str) -> str:
    """``url`` with its host in A-label form and everything else as it was (for showing a client id)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return url
    if not host or host.isascii():
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + a_label(host) + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _raw_a_label(label: str) -> str:
    if label.isascii():
        return label
    return "xn--" + label.encode("punycode").decode("ascii")
