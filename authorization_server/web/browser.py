"""Cookies and CSRF tokens for the sign-in and consent pages.

Two cookies, both ``HttpOnly`` and ``SameSite=Lax``, and ``Secure`` with the ``__Host-`` prefix
when the issuer is https (MCP security best practices, consent cookie security):

- the *browser* cookie, a random value set by /authorize: an interaction works only in the
  browser that started it, and its forms' CSRF token is derived from this value, which other
  sites can neither read nor set (OAuth 2.1 §7.10);
- the *session* cookie, set after sign-in, cleared by signing out (``/account/sign-out``);
- the *admin session* cookie of the operator's console (``/admin/sign-in``, issue 17), ``SameSite=Strict``.
"""

import base64
import hashlib
import hmac
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.errors import InvalidRequest
from mcp_authz.authorization_server.settings import Settings

BROWSER = "as_browser"
SESSION = "as_session"
ADMIN_SESSION = "as_admin"


class Cookies:
    def __init__(self, settings: Settings) -> None:
        self._secure = settings.secure_cookies
        self._prefix = "__Host-" if self._secure else ""
        self._session_ttl = settings.session_ttl

    def browser_secret(self, request: Request) -> str | None:
        return request.cookies.get(self._prefix + BROWSER)

    def session(self, request: Request) -> str | None:
        return request.cookies.get(self._prefix + SESSION)

    def set_browser_secret(self, response: Response, value: str) -> None:
        self._set(response, BROWSER, value, max_age=None)

    def set_session(self, response: Response, value: str) -> None:
        self._set(response, SESSION, value, max_age=self._session_ttl)

    def clear_session(self, response: Response) -> None:
        """Signing out: the browser drops the session cookie (its attributes must match the ones it was set with)."""
        response.delete_cookie(self._prefix + SESSION, path="/", secure=self._secure, httponly=True, samesite="lax")

    def admin_session(self, request: Request) -> str | None:
        return request.cookies.get(self._prefix + ADMIN_SESSION)

    def set_admin_session(self, response: Response, value: str) -> None:
        self._set(response, ADMIN_SESSION, value, max_age=self._session_ttl, samesite="strict")

    def clear_admin_session(self, response: Response) -> None:
        response.delete_cookie(
            self._prefix + ADMIN_SESSION, path="/", secure=self._secure, httponly=True, samesite="strict"
        )

    def _set(
        self,
        response: Response,
        name: str,
        value: str,
        max_age: int | None,
        samesite: Literal["lax", "strict"] = "lax",
    ) -> None:
        response.set_cookie(
            self._prefix + name,
            value,
            max_age=max_age,
            path="/",
            secure=self._secure,
            httponly=True,
            samesite=samesite,
        )


def csrf_token(browser_secret: str, interaction_id: str) -> str:
    """The token the interaction's forms carry: an HMAC of the interaction keyed by the browser cookie."""
    mac = hmac.new(browser_secret.encode(), interaction_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class CsrfFailed(InvalidRequest):
    status_code = 403


def check_csrf(browser_secret: str | None, interaction_id: str, token: str | None) -> None:
    """Refuse a form that does not carry this browser's token for this interaction (403)."""
    expected = csrf_token(browser_secret or "", interaction_id).encode()
    # Bytes: compare_digest refuses str with non-ASCII characters, which a forged form may hold.
    if not (browser_secret and token and hmac.compare_digest(expected, token.encode())):
        raise CsrfFailed("The form expired or came from another site. Start again from the application.")
