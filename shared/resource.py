"""Resource indicators (RFC 8707) and the canonical MCP server URI.

MCP (Canonical Server URI) names a server by the absolute URI of its endpoint, without fragment,
with lower-case scheme and host, and prefers the form without a trailing slash. The client sends
it as ``resource``, the authorization server binds tokens to it (``aud``), and the MCP server
checks it. Comparisons go through :func:`same_resource`, which compares canonical forms: an
upper-case scheme or host, or a trailing slash on a bare origin (``https://mcp.example.com/``,
RFC 3986 §6.2.3: an empty path and ``/`` are the same for http(s)), is the same resource
(issue 15, real clients). A slash at the end of a longer path stays significant.
"""

from urllib.parse import urlsplit, urlunsplit


def canonical_resource(uri: str) -> str:
    """The canonical form of a resource URI (MCP Canonical Server URI): scheme and host in lower case,
    no trailing slash on a bare origin. ``ValueError`` unless ``uri`` is an absolute http(s) URI
    without fragment (RFC 8707 §2)."""
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{uri!r} is not an absolute http(s) URI")
    if parts.fragment or uri.endswith("#"):
        raise ValueError(f"{uri!r} has a fragment, which RFC 8707 §2 forbids")
    path = "" if parts.path == "/" else parts.path
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def same_resource(a: str, b: str) -> bool:
    """Whether two resource URIs name the same resource: their canonical forms are equal."""
    try:
        return canonical_resource(a) == canonical_resource(b)
    except ValueError:
        return False
