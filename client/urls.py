"""Which URLs the client fetches or opens (CL-08, CL-22; MCP Security Best Practices).

Every URL the client learns from a server, the ``resource_metadata`` of a challenge, the issuer
named by protected resource metadata, the endpoints in authorization server metadata, is checked
before it is used, and the authorization URL again before a browser opens it:

- ``https`` is allowed; no scheme but ``https`` and ``http`` ever is (no ``javascript:``,
  ``data:``, ``file:``, ..., which a browser would run or open);
- plain ``http`` is allowed only to a loopback host (OAuth 2.1 §1.5), and only when the MCP
  server itself was given as a loopback ``http`` URL: the local demo. A remote MCP server cannot
  send this client to a service on the user's own machine.

Private address ranges reached over ``https`` are not blocked: this is a command-line client run
by its user, not a service deployed beside other services, the case MCP's SSRF advice is about.
"""

from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

from mcp_authz.shared.loopback import is_https_or_loopback_http, is_loopback_http


@dataclass(frozen=True)
class UrlPolicy:
    #: Whether plain http to a loopback host is followed (the MCP server is on loopback too).
    loopback_http: bool

    @classmethod
    def for_server(cls, server_url: str) -> Self:
        return cls(loopback_http=is_loopback_http(server_url))

    def problem(self, url: str) -> str | None:
        """Why ``url`` must not be fetched or opened, or ``None`` when it may be."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return "only absolute https URLs (or http on loopback) are followed"
        if not is_https_or_loopback_http(url):
            return "plain http is only allowed to loopback addresses (OAuth 2.1 §1.5)"
        if parts.scheme == "http" and not self.loopback_http:
            return "plain http to this machine is only followed when the MCP server is on loopback too"
        return None
