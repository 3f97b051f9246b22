"""The identity providers page's use cases (issue 16): listed, added (checked by discovery through the
SSRF-safe fetcher first) and removed as ``identity-providers list|add|remove`` do (``IdentityProviderService``).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

from mcp_authz.authorization_server.admin.console.shared import or_invalid
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.flow.authorization.openid import OpenIdProviders, check_provider
from mcp_authz.authorization_server.identity_providers.entities import IdentityProvider
from mcp_authz.authorization_server.identity_providers.service import (
    IdentityProviderService,
    parse_claim_rules,
    parse_domains,
)
from mcp_authz.shared.scopes import parse_scope


@dataclass(frozen=True)
class ProviderLine:
    """An identity provider as the console lists it (``identity-providers list``)."""

    provider: IdentityProvider
    #: How many users sign in through it: while any do, it cannot be removed.
    users: int
    #: The redirect URI registered at the provider, its own per provider (RFC 9700 §4.4.2).
    redirect_uri: str


@dataclass(frozen=True)
class ProviderFields:
    """The console's "add an identity provider" form, as typed (``identity-providers add``'s options)."""

    name: str = ""
    issuer: str = ""
    client_id: str = ""
    auth_method: str = "client_secret_basic"
    client_secret_env: str = ""
    scopes: str = "openid email profile"
    allowed_domains: str = ""
    claim_rules: str = ""
    display_name: str = ""
    allow_private_network: bool = False


class IdentityProviderConsole:
    """``identity-providers list|add|remove`` for the console (issue 16), through ``IdentityProviderService``: a new
    provider is checked by discovery (OIDC Discovery §4) through the SSRF-safe fetcher, as sign-ins fetch it,
    before anything is stored."""

    def __init__(
        self,
        db: Database,
        *,
        identity_providers: IdentityProviderService,
        openid: OpenIdProviders,
        redirect_uri: Callable[[IdentityProvider], str],
    ) -> None:
        self._db = db
        self._identity_providers = identity_providers
        self._openid = openid
        self._redirect_uri = redirect_uri

    async def list(self) -> list[ProviderLine]:
        async def unit(tx: Transaction) -> list[ProviderLine]:
            counts = await self._identity_providers.user_counts(tx)
            providers = await self._identity_providers.all(tx)
            return [ProviderLine(found, counts.get(found.id, 0), self._redirect_uri(found)) for found in providers]

        return await self._db.run(unit)

    async def add(self, fields: ProviderFields) -> IdentityProvider:
        """``identity-providers add``: checked, discovered, then stored in one unit of work; ``InvalidRequest``
        says what is wrong, and then nothing was written."""
        service = self._identity_providers
        try:
            provider = service.new_provider(
                name=fields.name.strip(),
                issuer=fields.issuer.strip(),
                client_id=fields.client_id.strip(),
                auth_method=fields.auth_method,
                client_secret_env=fields.client_secret_env.strip() or None,
                scopes=parse_scope(fields.scopes),
                allowed_domains=parse_domains(fields.allowed_domains),
                claim_rules=parse_claim_rules(fields.claim_rules),
                allow_private_network=fields.allow_private_network,
                display_name=fields.display_name,
            )
            if not provider.client_id:
                raise ValueError("the client id this server has at the provider is needed")
            await check_provider(self._openid, provider)
            return await self._db.run(lambda tx: service.add(tx, provider))
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def added(self, name: str) -> tuple[ProviderLine, str | None]:
        """A provider just added: its line, and for ``private_key_jwt`` the public JWK to register there."""
        line = next((line for line in await self.list() if line.provider.name == name), None)
        if line is None:
            raise NotFound(f"no identity provider named {name!r}")
        if line.provider.auth_method != "private_key_jwt":
            return line, None
        try:
            return line, json.dumps(self._identity_providers.public_jwk(line.provider))
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def remove(self, name: str) -> None:
        """``identity-providers remove``: refused while users sign in through it; ``NotFound`` if there is none."""
        service = self._identity_providers

        async def unit(tx: Transaction) -> None:
            if await service.find(tx, name) is None:
                raise NotFound(f"no identity provider named {name!r}")
            await service.remove(tx, name)

        await or_invalid(self._db.run(unit))
