"""Who may see the admin pages: the admin, by HTTP Basic (RFC 7617) with the credentials in settings.

While no credentials are set the pages do not exist: 404, as for any unknown path
(docs/decisions/0014). The password is long (``settings.MIN_ADMIN_PASSWORD``, checked at
start), compared as SHA-256 digests in constant time so that neither its content nor its length
shows in the timing, and wrong credentials are counted per client address: after
``login_lockout_failures`` within ``login_lockout_window`` seconds, that address gets 429 for
``login_lockout_duration`` seconds, twice as long at each new lock (``accounts/lockout.py``,
issue 11 item 10).

The console (issue 17) signs the admin in with a form instead (``/admin/sign-in``): the same
credentials, the same per-address lockout, and then a session cookie whose value is random and
kept as a digest until it expires or the admin signs out (docs/decisions/0041). HTTP Basic
stays for scripts; a browser that brings neither is sent to the sign-in page.

The failures and the sessions live in the database (``accounts/``, issue 13): every instance
serving the issuer counts the same failures and knows the same sessions.
"""

import base64
import hashlib
import hmac
import math

from starlette.requests import Request

from mcp_authz.authorization_server.accounts.lockout import FailureLock
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import AdminSignInRequired, NotFound, TooManyRequests
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.authorization_server.web.browser import Cookies
from mcp_authz.authorization_server.web.rate_limits import address_of

#: At most this many admin sessions are kept; signing in again past it forgets the oldest.
MAX_SESSIONS = 100


class AdminSignInFailed(AdminSignInRequired):
    """The sign-in form's username or password was wrong (shown on the form again, 401)."""


class AdminGuard:
    """The admin's credentials, and the failures of each client address."""

    def __init__(
        self, settings: Settings, db: Database, accounts: AccountService, cookies: Cookies | None = None
    ) -> None:
        self._settings = settings
        self._db = db
        self._accounts = accounts
        self._cookies = cookies or Cookies(settings)
        self._username = _digest(settings.admin_username)
        self._password = _digest(settings.admin_password)
        self._failures = FailureLock(
            "admin",
            failures=settings.login_lockout_failures,
            window=settings.login_lockout_window,
            duration=settings.login_lockout_duration,
        )

    async def require_admin(self, request: Request) -> None:
        """Return if the request carries the admin's credentials; raise ``NotFound``, ``TooManyRequests``
        (an address locked after failures) or ``AdminSignInRequired``."""
        self.require_pages()
        if await self.session(request) is not None:
            return
        address = await self._not_locked(request)
        header = request.headers.get("authorization", "")
        username, password = _basic(header)
        # Both compared in constant time, and both always, so the time tells neither which one was
        # wrong nor how long the right one is: digests have one length.
        right_name = hmac.compare_digest(_digest(username), self._username)
        right_password = hmac.compare_digest(_digest(password), self._password)
        if not (right_name and right_password):
            if header:  # a browser's first request, without credentials, only asks for the challenge
                await self._db.run(lambda tx: self._failures.failed(tx, address))
            raise AdminSignInRequired("the admin pages need the admin's username and password")
        await self._db.run(lambda tx: self._failures.succeeded(tx, address))

    def require_pages(self) -> None:
        """``NotFound`` while the admin pages are off (no credentials set, docs/decisions/0014)."""
        if not self._settings.admin_pages:
            raise NotFound("no such endpoint")

    async def session(self, request: Request) -> str | None:
        """The request's admin session cookie, if it names a live session."""
        value = self._cookies.admin_session(request)
        if not value:
            return None
        live = await self._db.run(lambda tx: self._accounts.admin_session_live(tx, value))
        return value if live else None

    async def sign_in(self, request: Request, username: str, password: str) -> str:
        """The sign-in form: the admin's credentials give a new session, whose cookie value is returned.

        Raises ``TooManyRequests`` for a locked address, ``AdminSignInFailed`` (counted) otherwise.
        """
        self.require_pages()
        address = await self._not_locked(request)
        right_name = hmac.compare_digest(_digest(username), self._username)
        right_password = hmac.compare_digest(_digest(password), self._password)
        if not (right_name and right_password):
            await self._db.run(lambda tx: self._failures.failed(tx, address))
            raise AdminSignInFailed("Wrong username or password.")

        async def unit(tx: Transaction) -> str:
            await self._failures.succeeded(tx, address)
            return await self._accounts.start_admin_session(tx, keep=MAX_SESSIONS)

        return await self._db.run(unit)

    async def sign_out(self, session: str | None) -> None:
        """The session no longer signs anyone in, whatever its lifetime left."""
        if session:
            await self._db.run(lambda tx: self._accounts.end_admin_session(tx, session))

    async def _not_locked(self, request: Request) -> str:
        """The request's address, unless failures locked it out (``TooManyRequests``, RFC 6585 §4)."""
        address = address_of(request)
        wait = await self._db.run(lambda tx: self._failures.wait(tx, address))
        if wait > 0:
            minutes = math.ceil(wait / 60)
            later = f"{minutes} minute{'s' * (minutes > 1)}"
            raise TooManyRequests(
                f"Too many failed admin sign-ins from this address. Try again in {later}.", retry_after=wait
            )
        return address


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
