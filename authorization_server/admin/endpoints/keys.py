"""The console's signing keys page.

- ``GET|POST /admin/keys``: the signing keys (RFC 7517) and when each retires; rotate (``keys rotate``).
  No early retirement: a key leaves the JWK Set once every token it signed has expired (docs/decisions/0042).
"""

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.admin.endpoints.shared import acting_page, console_page, only, page
from mcp_authz.authorization_server.routes import ADMIN_KEYS_PATH
from mcp_authz.authorization_server.services import Services
from mcp_authz.authorization_server.web.params import Params, query_params


@console_page
async def keys(request: Request, found: Services, session: str | None) -> Response:
    async def rotate(form: Params) -> str:
        only(form, "rotate")
        return f"{ADMIN_KEYS_PATH}?{urlencode({'rotated': await found.key_console.rotate()})}"

    async def show() -> Response:
        rotated = query_params(request).get("rotated")
        done = f"New signing key {rotated} is current; the previous one stays published." if rotated else None
        keep_for = found.settings.key_lifetime_after_rotation
        keys = await found.key_console.list()
        return page(request, session, "admin_keys.html", keys=keys, done=done, keep_for=keep_for)

    return await acting_page(request, found, session, rotate, show)
