"""Who may see the admin pages: the admin, by HTTP Basic (RFC 7617) with the credentials in settings.

While no credentials are set the pages do not exist: 404, as for any unknown path
(docs/decisions/0014).
"""

import base64
import hmac

from starlette.requests import Request

from authorization_server.errors import AdminSignInRequired, NotFound
from authorization_server.settings import Settings


def require_admin(request: Request, settings: Settings) -> None:
    """Return if the request carries the admin's credentials; raise ``NotFound`` or ``AdminSignInRequired``."""
    if not settings.admin_pages:
        raise NotFound("no such endpoint")
    username, password = _basic(request.headers.get("authorization", ""))
    # Both compared in constant time, and both always, so the time does not tell which one was wrong.
    right_name = hmac.compare_digest(username.encode(), settings.admin_username.encode())
    right_password = hmac.compare_digest(password.encode(), settings.admin_password.encode())
    if not (right_name and right_password):
        raise AdminSignInRequired("the admin pages need the admin's username and password")


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
