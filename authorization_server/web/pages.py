"""HTML pages: rendered by Jinja2 with autoescaping, sent with headers that keep them safe.

Every page forbids framing (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``, against
clickjacking, OAuth 2.1 §7.10), loads nothing from other origins, sends no referrer (RFC 9700
§4.2.4) and is never cached.
"""

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from mcp_authz.authorization_server.errors import OAuthError
from mcp_authz.authorization_server.web.browser import csrf_token

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

#: The authorization server's package, by the name it was imported by (mcp_authz.authorization_server: decision 0036).
_PACKAGE = __name__.rsplit(".", 2)[0]
_templates = Environment(loader=PackageLoader(_PACKAGE, "templates"), autoescape=select_autoescape(default=True))


def page(template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        _templates.get_template(template).render(**context), status_code, headers={**HEADERS, **(headers or {})}
    )


def form_page(
    request: Request,
    template: str,
    secret: str | None,
    purpose: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page whose form posts back to its own URL with a CSRF token: ``purpose`` keyed by a cookie's ``secret``.

    Sign-in and consent pages key their interaction id by the browser cookie; the connected apps
    page keys its purpose by the session cookie (docs/decisions/0006, 0012).
    """
    token = csrf_token(secret or "", purpose)
    return page(template, status_code, headers, action=request.url.path, csrf_token=token, **context)


def error_page(error: OAuthError, continue_url: str | None = None) -> HTMLResponse:
    """An error shown to the user; ``continue_url`` offers the way back to the client, as a link."""
    status = error.status_code if error.status_code != 401 else 400
    return page("error.html", status, error.headers(), error=error, continue_url=continue_url)
