"""Who may see the admin pages: the admin, by HTTP Basic (RFC 7617) with the credentials in settings.

While no credentials are set the pages do not exist: 404, as for any unknown path
(docs/decisions/0014). The password is long (``settings.MIN_ADMIN_PASSWORD``, checked at
start), compared as SHA-256 digests in constant time so that neither its content nor its length
shows in the timing, and wrong credentials are counted per client address: after
``login_lockout_failures`` within ``login_lockout_window`` seconds, that address gets 429 for
``login_lockout_duration`` seconds, twice as long at each new lock (``accounts/lockout.py``,
issue 11 item 10).
"""

import base64
import hashlib
import hmac
import math

from starlette.requests import Request

from authorization_server.accounts.lockout import FailureLock
from authorization_server.errors import AdminSignInRequired, NotFound, TooManyRequests
from authorization_server.settings import Settings
from authorization_server.web.rate_limits import address_of


class AdminGuard:
    """The admin's credentials, and the failures of each client address."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._username = _digest(settings.admin_username)
        self._password = _digest(settings.admin_password)
        self._failures = FailureLock(
            failures=settings.login_lockout_failures,
            window=settings.login_lockout_window,
            duration=settings.login_lockout_duration,
        )

    def require_admin(self, request: Request) -> None:
        """Return if the request carries the admin's credentials; raise ``NotFound``, ``TooManyRequests``
        (an address locked after failures) or ``AdminSignInRequired``."""
        if not self._settings.admin_pages:
            raise NotFound("no such endpoint")
        address = address_of(request)
        wait = self._failures.wait(address)
        if wait > 0:
            minutes = math.ceil(wait / 60)
            later = f"{minutes} minute{'s' * (minutes > 1)}"
            raise TooManyRequests(
                f"Too many failed admin sign-ins from this address. Try again in {later}.", retry_after=wait
            )
        header = request.headers.get("authorization", "")
        username, password = _basic(header)
        # Both compared in constant time, and both always, so the time tells neither which one was
        # wrong nor how long the right one is: digests have one length.
        right_name = hmac.compare_digest(_digest(username), self._username)
        right_password = hmac.compare_digest(_digest(password), self._password)
        if not (right_name and right_password):
            if header:  # a browser's first request, without credentials, only asks for the challenge
                self._failures.failed(address)
            raise AdminSignInRequired("the admin pages need the admin's username and password")
        self._failures.succeeded(address)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _basic(header: str) -> tuple[str, str]:
    """RFC 7617 §2: ``Basic base64(user-id ":" password)``, UTF-8; empty strings when absent or malformed."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError
        return "", ""
    username, _, password = decoded.partition(":")
    return username, password
