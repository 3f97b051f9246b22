"""The HTTP clients of a run, and the OAuth error responses they may receive.

Every client has fixed timeouts and never follows redirects by itself (``follow_redirects`` is
off): a redirect from a metadata or token endpoint is an answer to report, not an instruction,
and ``--headless`` follows the authorization server's redirects one by one, checking each.
"""

from dataclasses import dataclass
from typing import Self

import httpx2

from mcp_authz.client.tutorial import Tutorial
from mcp_authz.shared.json_fields import as_object, optional_str, required_str

TIMEOUT = httpx2.Timeout(10.0, connect=5.0)


def http_client(tutorial: Tutorial, *, bodies: bool, headers: dict[str, str] | None = None) -> httpx2.AsyncClient:
    """A client whose every request and response is printed (bodies too, if ``bodies``)."""
    return httpx2.AsyncClient(
        timeout=TIMEOUT, follow_redirects=False, headers=headers, event_hooks=tutorial.hooks(bodies=bodies)
    )


@dataclass(frozen=True)
class OAuthErrorResponse:
    """An error response (RFC 6749 §5.2, RFC 7591 §3.2.2); ``error`` is ``None`` when the body had none."""

    error: str | None
    text: str

    @classmethod
    def read(cls, response: httpx2.Response) -> Self:
        try:
            body = as_object(response.json(), "error response")
            error = required_str(body, "error")
            description = optional_str(body, "error_description")
        except ValueError:
            return cls(None, f"{response.status_code} {response.reason_phrase}")
        return cls(error, f"{error}: {description}" if description else error)
