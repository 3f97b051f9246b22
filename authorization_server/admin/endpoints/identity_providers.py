"""The console's identity providers page (issue 16).

- ``GET|POST /admin/identity-providers``: the OpenID providers people sign in with (issue 16): each with its
  rules, redirect URI and how many users sign in through it; add one, checked by discovery through the
  SSRF-safe fetcher first (``identity-providers add``); remove one, confirmed, refused while users sign in
  through it (``identity-providers remove``).
"""

from dataclasses import fields

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.admin.console.identity_providers import ProviderFields
from mcp_authz.authorization_server.admin.endpoints.shared import acting_page, add_or_remove, console_page, page
from mcp_authz.authorization_server.identity_providers.entities import AUTH_METHODS
from mcp_authz.authorization_server.routes import ADMIN_IDENTITY_PROVIDERS_PATH
from mcp_authz.authorization_server.services import Services
from mcp_authz.authorization_server.web.params import Params, query_params

#: The "add an identity provider" form's text fields, named as ``ProviderFields``' attributes.
PROVIDER_FIELDS = tuple(field.name for field in fields(ProviderFields) if field.type is str)


@console_page
async def identity_providers(request: Request, found: Services, session: str | None) -> Response:
    """The identity providers (``identity-providers list``); add one (``add``, checked by discovery), remove one
    (``remove``, confirmed, refused while users sign in through it)."""
    console = found.identity_provider_console

    async def act(form: Params) -> str:
        async def add() -> str:
            # A field left out takes the command line's default (client_secret_basic, "openid email profile").
            typed = {name: value for name in PROVIDER_FIELDS if (value := form.get(name)) is not None}
            wanted = ProviderFields(**typed, allow_private_network=form.get("allow_private_network") == "yes")
            return (await console.add(wanted)).name

        return await add_or_remove(form, ADMIN_IDENTITY_PROVIDERS_PATH, add=add, remove=console.remove)

    async def show() -> Response:
        query = query_params(request)
        added_name, removed = query.get("added"), query.get("removed")
        added = await console.added(added_name) if added_name else None
        return page(
            request,
            session,
            "admin_identity_providers.html",
            providers=await console.list(),
            added=added,
            done=f"Removed identity provider {removed}." if removed else None,
            defaults=ProviderFields(),
            auth_methods=AUTH_METHODS,
        )

    return await acting_page(request, found, session, act, show)
