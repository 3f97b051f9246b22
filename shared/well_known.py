"""Well-known metadata URLs, built by inserting the suffix between host and path.

RFC 8414 §3.1: "the well-known URI string ... is inserted into the issuer identifier between the
host component and the path component, if any", after removing a terminating "/" from the path.
RFC 9728 §3.1 builds protected resource metadata URLs the same way, keeping any query.
"""

from urllib.parse import urlsplit, urlunsplit

AUTHORIZATION_SERVER_SUFFIX = "oauth-authorization-server"
PROTECTED_RESOURCE_SUFFIX = "oauth-protected-resource"


def insert_well_known(url: str, suffix: str) -> str:
    """``https://a.example/t1`` with ``oauth-authorization-server`` gives
    ``https://a.example/.well-known/oauth-authorization-server/t1``."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{suffix}{path}", parts.query, ""))


def authorization_server_metadata_url(issuer: str) -> str:
    """Where an issuer publishes its RFC 8414 metadata (RFC 8414 §3.1)."""
    return insert_well_known(issuer, AUTHORIZATION_SERVER_SUFFIX)


def protected_resource_metadata_url(resource: str) -> str:
    """Where a protected resource publishes its RFC 9728 metadata (RFC 9728 §3.1)."""
    return insert_well_known(resource, PROTECTED_RESOURCE_SUFFIX)
