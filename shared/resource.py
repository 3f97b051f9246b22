"""Resource indicators (RFC 8707) and the canonical MCP server URI.

MCP (Canonical Server URI) names a server by the absolute URI of its endpoint, without fragment,
with lower-case scheme and host. The client sends it as ``resource``, the authorization server
binds tokens to it (``aud``), and the MCP server checks it. Comparisons go through
:func:`same_resource`, which accepts upper-case scheme or host spellings as the same resource.
"""

from urllib.parse import urlsplit, urlunsplit


def canonical_resource(uri: str) -> str:
    """``ValueError`` unless ``uri`` is an absolute http(s) URI without fragment (RFC 8707 §2)."""
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{uri!r} is not an absolute http(s) URI")
    if parts.fragment or uri.endswith("#"):
        raise ValueError(f"{uri!r} has a fragment, which RFC 8707 §2 forbids")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def same_resource(a: str, b: str) -> bool:
    """Whether two resource URIs name the same resource (scheme and host case-insensitive)."""
    try:
        return canonical_resource(a) == canonical_resource(b)
    except ValueError:
        return False
