"""A remembered consent."""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from mcp_authz.shared.loopback import is_loopback_http


@dataclass(frozen=True)
class Consent:
    """What ``user_id`` approved for one client at one MCP server (MCP-SBP Confused Deputy, per-client consent)."""

    user_id: str
    client_id: str
    mcp_server_id: str
    issuer: str
    scope: tuple[str, ...]
    approved_at: datetime
    last_used_at: datetime | None
    #: The redirect URIs the user approved it for, as :func:`redirect_key` writes them (issue 11).
    redirect_uris: tuple[str, ...] = ()

    def covers(self, scope: tuple[str, ...], redirect_uri: str) -> bool:
        """Whether every scope asked for was approved already, for this redirect URI: else ask again (AS-24).

        A client ID metadata document's ``client_id`` is the same for every installation of the
        client; the redirect URI tells where the code goes, so a new one asks again.
        """
        return set(scope) <= set(self.scope) and redirect_key(redirect_uri) in self.redirect_uris


def redirect_key(uri: str) -> str:
    """A redirect URI as consent remembers it: exact, but a loopback one without its port (RFC 8252 §7.3).

    A native client listens on whatever port is free each time (RFC 8252 §7.3 lets it), so the
    port cannot tell one installation from another; the rest of the URI must match exactly.
    """
    if not is_loopback_http(uri):
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"[{host}]" if ":" in host else host))
