"""The MCP servers this authorization server knows, and the MCP connections (downstream OAuth
providers) each of them has. Read on a request's path through the cache (``cache.py``)."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from mcp_authz.authorization_server import change_versions, clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.mcp_servers import repository
from mcp_authz.authorization_server.mcp_servers.cache import McpServerCache
from mcp_authz.authorization_server.mcp_servers.entities import (
    ID_PATTERN,
    McpConnection,
    McpServer,
    TrustedIdentityProvider,
    is_version,
)
from mcp_authz.authorization_server.secrets_at_rest import digest, new_id, new_secret
from mcp_authz.shared.loopback import is_https_or_loopback_http
from mcp_authz.shared.resource import canonical_resource
from mcp_authz.shared.scopes import parse_scope

#: A POSIX environment variable name: where a downstream client secret is read from.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class McpServerService:
    """The MCP servers and their connections, each method inside the caller's unit of work (``tx``).

    Lookups on a request's path go through :class:`~authorization_server.mcp_servers.cache.McpServerCache`;
    the writes here tell it (``cache``) to load again.
    """

    def __init__(self, cache: McpServerCache | None = None) -> None:
        self._cache = cache

    async def get(self, tx: Transaction, server_id: str) -> McpServer | None:
        """The server as stored now, not cached (the command line)."""
        return await repository.server(tx, server_id)

    async def all(self, tx: Transaction) -> list[McpServer]:
        return await repository.all_servers(tx)

    async def add(
        self,
        tx: Transaction,
        *,
        server_id: str,
        resource: str,
        scopes: str,
        name: str | None = None,
        default_scopes: str | None = None,
        version: str = "latest",
        scope_descriptions: Mapping[str, str] | None = None,
    ) -> McpServer:
        """Register an MCP server; ``ValueError`` says what is wrong with the values.

        ``scope_descriptions`` says what each scope lets a client do, for the consent page (issue 17).
        """
        server = _new_server(server_id, resource, scopes, name, default_scopes, version, clock.now())
        server = replace(server, scope_descriptions=_descriptions(server.scopes, scope_descriptions or {}))
        clash = await repository.find_by_id_or_resource(tx, server.id, server.resource)
        if clash is not None:
            raise ValueError(f"MCP server {clash.id!r} already has that id or resource ({clash.resource})")
        await repository.add(tx, server)
        await self._changed(tx)
        return server

    async def rotate_secret(self, tx: Transaction, server_id: str) -> str:
        """Give the server a new introspection secret, returned once; the previous one stops working."""
        secret = new_secret()
        if not await repository.set_secret_hash(tx, server_id, digest(secret)):
            raise ValueError(f"no MCP server with id {server_id!r}")
        await self._changed(tx)
        return secret

    async def update(
        self,
        tx: Transaction,
        server_id: str,
        *,
        name: str | None = None,
        resource: str | None = None,
        scopes: str | None = None,
        default_scopes: str | None = None,
        scope_descriptions: Mapping[str, str] | None = None,
        every_description: bool = False,
    ) -> McpServer:
        """Change what is given of the server's name, resource, scopes and their descriptions, checked as
        at :meth:`add` (issue 17).

        New ``scopes`` without ``default_scopes`` keep the default scopes that are still offered (all of
        them if none is). New descriptions replace those of the scopes they name; the others stay while
        their scope is offered, unless ``every_description`` (the console's form lists them all: a scope
        it leaves out loses its description). ``ValueError`` says what is wrong.
        """
        old = await repository.server(tx, server_id)
        if old is None:
            raise ValueError(f"no MCP server with id {server_id!r}")
        if default_scopes is None and scopes is not None:
            offered = set(parse_scope(scopes))
            kept = [scope for scope in old.default_scopes if scope in offered]
            default_scopes = " ".join(kept) if kept else scopes
        checked = _new_server(
            old.id,
            resource if resource is not None else old.resource,
            scopes if scopes is not None else " ".join(old.scopes),
            name if name is not None else old.name,
            default_scopes if default_scopes is not None else " ".join(old.default_scopes),
            old.version,
            old.created_at,
        )
        if checked.resource != old.resource:
            clash = await repository.find_by_id_or_resource(tx, "", checked.resource)
            if clash is not None:
                raise ValueError(f"MCP server {clash.id!r} already has the resource {clash.resource}")
        still: dict[str, str] = {} if every_description else dict(old.scope_descriptions)
        still = {scope: text for scope, text in still.items() if scope in checked.scopes}
        server = replace(
            old,
            name=checked.name,
            resource=checked.resource,
            scopes=checked.scopes,
            default_scopes=checked.default_scopes,
            scope_descriptions=_descriptions(checked.scopes, still | dict(scope_descriptions or {})),
        )
        await repository.update(tx, server)
        await self._changed(tx)
        return server

    async def remove(self, tx: Transaction, server_id: str) -> None:
        """Delete the server with its connections, MCP flows, consents and machine approvals (foreign keys
        cascade). Its issuer is gone: its metadata answers 404. End its grants first."""
        if not await repository.delete(tx, server_id):
            raise ValueError(f"no MCP server with id {server_id!r}")
        await self._changed(tx)

    async def add_connection(
        self,
        tx: Transaction,
        *,
        mcp_server_id: str,
        name: str,
        client_id: str,
        scopes: str,
        issuer: str | None = None,
        authorization_endpoint: str | None = None,
        token_endpoint: str | None = None,
        client_secret_env: str | None = None,
        resource: str | None = None,
    ) -> McpConnection:
        """Give an MCP server a connection to a downstream provider; ``ValueError`` says what is wrong."""
        connection = _new_connection(
            mcp_server_id,
            name,
            client_id,
            scopes,
            issuer,
            authorization_endpoint,
            token_endpoint,
            client_secret_env,
            resource,
            clock.now(),
        )
        if await repository.server(tx, mcp_server_id) is None:
            raise ValueError(f"no MCP server with id {mcp_server_id!r}")
        if await repository.connection_by_name(tx, mcp_server_id, name) is not None:
            raise ValueError(f"MCP server {mcp_server_id!r} already has a connection named {name!r}")
        await repository.add_connection(tx, connection)
        return connection

    async def connections(self, tx: Transaction, mcp_server_id: str | None = None) -> list[McpConnection]:
        """Every MCP connection, or those of one MCP server."""
        return await repository.connections(tx, mcp_server_id)

    async def connection(self, tx: Transaction, connection_id: str) -> McpConnection | None:
        return await repository.connection(tx, connection_id)

    async def connection_named(self, tx: Transaction, mcp_server_id: str, name_or_id: str) -> McpConnection:
        """The connection an MCP server names by its name or id (RFC 8693 ``audience``); ``LookupError`` says why.

        A connection of another MCP server is refused with the reason (the rule of seed 000).
        """
        found = await repository.connection_by_name_or_id(tx, name_or_id)
        own = [connection for connection in found if connection.mcp_server_id == mcp_server_id]
        if own:
            return own[0]
        if found:
            raise LookupError(
                f"MCP connection {name_or_id!r} belongs to MCP server {found[0].mcp_server_id!r},"
                f" not to {mcp_server_id!r}"
            )
        raise LookupError(f"MCP server {mcp_server_id!r} has no connection {name_or_id!r}")

    async def remove_connection(self, tx: Transaction, connection_id: str) -> None:
        """Delete a connection; the downstream flows that used it go with it."""
        if not await repository.remove_connection(tx, connection_id):
            raise ValueError(f"no MCP connection with id {connection_id!r}")

    async def trust_identity_provider(
        self,
        tx: Transaction,
        *,
        mcp_server_id: str,
        issuer: str,
        client_ids: list[str],
        jwks_uri: str | None = None,
        jwks: dict[str, Any] | None = None,
    ) -> TrustedIdentityProvider:
        """Let ``mcp_server_id``'s issuer accept ID-JAGs of ``issuer`` from ``client_ids`` (SEP-990, decision 0049).

        Trusting the same issuer again replaces its keys and clients. ``jwks`` must already be a
        checked JWK Set of public keys; ``ValueError`` says what is wrong with the values.
        """
        if not issuer.strip() or issuer != issuer.strip():
            raise ValueError("--idp must be the identity provider's issuer identifier, exactly as in its ID-JAGs")
        if (jwks_uri is None) == (jwks is None):
            raise ValueError("give the identity provider's keys as --jwks-uri or --jwks-file, one of them")
        if jwks_uri is not None and not is_https_or_loopback_http(jwks_uri):
            raise ValueError("--jwks-uri must be an https URL (http only on loopback)")
        if not client_ids or any(not client_id.strip() for client_id in client_ids):
            raise ValueError(
                "name at least one client (--allow-client) that may present this identity provider's ID-JAGs"
            )
        if await repository.server(tx, mcp_server_id) is None:
            raise ValueError(f"no MCP server with id {mcp_server_id!r}")
        idp = TrustedIdentityProvider(
            mcp_server_id=mcp_server_id,
            issuer=issuer,
            jwks_uri=jwks_uri,
            jwks=jwks,
            client_ids=tuple(dict.fromkeys(client_ids)),
            created_at=clock.now(),
        )
        await repository.trust_identity_provider(tx, idp)
        return idp

    async def distrust_identity_provider(self, tx: Transaction, mcp_server_id: str, issuer: str) -> None:
        """Stop accepting ``issuer``'s ID-JAGs at ``mcp_server_id``; tokens already issued live on until they expire."""
        if not await repository.distrust_identity_provider(tx, mcp_server_id, issuer):
            raise ValueError(f"MCP server {mcp_server_id!r} does not trust the identity provider {issuer!r}")

    async def trusted_identity_providers(
        self, tx: Transaction, mcp_server_id: str | None = None
    ) -> list[TrustedIdentityProvider]:
        """The identity providers one MCP server trusts, or all of them."""
        return await repository.trusted_identity_providers(tx, mcp_server_id)

    async def spend_identity_assertion(
        self, tx: Transaction, issuer: str, jti_hash: str, expires_at: datetime, leeway: timedelta
    ) -> bool:
        """Spend an ID-JAG's ``jti`` (its digest) until ``expires_at`` + ``leeway``; ``False`` if it was spent."""
        return await repository.spend_identity_assertion(
            tx, issuer, jti_hash, expires_at + leeway, forget_expired_before=clock.now()
        )

    async def _changed(self, tx: Transaction) -> None:
        """Inside the unit that wrote ``mcp_servers``: every instance's cache loads again (issue 13),
        this one's at its next lookup."""
        await change_versions.bump(tx, change_versions.MCP_SERVERS)
        if self._cache is not None:
            self._cache.forget()


def _new_server(
    server_id: str,
    resource: str,
    scopes: str,
    name: str | None,
    default_scopes: str | None,
    version: str,
    created_at: datetime,
) -> McpServer:
    if not ID_PATTERN.fullmatch(server_id):
        raise ValueError(f"id {server_id!r} must be a slug: lower-case letters, digits, '-' and '_'")
    canonical = canonical_resource(resource)
    if canonical != resource:
        raise ValueError(f"resource must be written in canonical form: {canonical!r}")
    all_scopes = parse_scope(scopes)
    if not all_scopes:
        raise ValueError("an MCP server needs at least one scope")
    defaults = parse_scope(default_scopes) if default_scopes is not None else all_scopes
    if not set(defaults) <= set(all_scopes):
        raise ValueError("default scopes must be among the server's scopes")
    if not is_version(version):
        raise ValueError("version must be 1 to 64 letters, digits, '.', '_' or '-' (it is a path segment)")
    return McpServer(
        id=server_id,
        name=name or server_id,
        resource=resource,
        scopes=all_scopes,
        default_scopes=defaults,
        version=version,
        created_at=created_at,
    )


#: A description is one line a person reads on the consent page.
MAX_DESCRIPTION = 200


def scope_descriptions(given: Iterable[str]) -> dict[str, str]:
    """``SCOPE=TEXT`` values (the command line's ``--describe-scope``, the console's lines) as a mapping;
    ``ValueError`` names a value without ``=``."""
    described: dict[str, str] = {}
    for value in given:
        scope, equals, text = value.partition("=")
        if not equals or not scope.strip():
            raise ValueError(f'{value!r}: write SCOPE=TEXT, e.g. "mcp:read=Read your notes"')
        described[scope.strip()] = text
    return described


def _descriptions(scopes: tuple[str, ...], given: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The descriptions in the order of the server's scopes; ``ValueError`` for an unknown scope or a bad text."""
    unknown = sorted(set(given) - set(scopes))
    if unknown:
        raise ValueError(f"cannot describe {', '.join(unknown)}: not among the server's scopes ({' '.join(scopes)})")
    for scope, text in given.items():
        if not text.strip() or len(text) > MAX_DESCRIPTION or not text.isprintable():
            raise ValueError(f"describe {scope} in 1 to {MAX_DESCRIPTION} printable characters on one line")
    return tuple((scope, given[scope].strip()) for scope in scopes if scope in given)


def _new_connection(
    mcp_server_id: str,
    name: str,
    client_id: str,
    scopes: str,
    issuer: str | None,
    authorization_endpoint: str | None,
    token_endpoint: str | None,
    client_secret_env: str | None,
    resource: str | None,
    created_at: datetime,
) -> McpConnection:
    if not name.strip():
        raise ValueError("a connection needs a name")
    if not client_id.strip():
        raise ValueError("a connection needs the client id this server has at the provider")
    endpoints = (authorization_endpoint, token_endpoint)
    by_issuer = issuer is not None and endpoints == (None, None)
    by_endpoints = issuer is None and None not in endpoints
    if not (by_issuer or by_endpoints):
        raise ValueError("give either the provider's issuer or both its authorization and token endpoints")
    for url in (issuer, *endpoints, resource):
        if url is not None:
            _check_provider_url(url)
    if client_secret_env is not None and not ENV_NAME.fullmatch(client_secret_env):
        raise ValueError(f"{client_secret_env!r} is not an environment variable name")
    return McpConnection(
        id=new_id("con"),
        mcp_server_id=mcp_server_id,
        name=name,
        issuer=issuer,
        authorization_endpoint=authorization_endpoint,
        token_endpoint=token_endpoint,
        client_id=client_id,
        client_secret_env=client_secret_env,
        scopes=parse_scope(scopes),
        created_at=created_at,
        resource=resource,
    )


def _check_provider_url(url: str) -> None:
    """OAuth 2.1 §1.5: a provider is reached over https, plain http only on loopback."""
    parts = urlsplit(url)
    if not parts.hostname or parts.fragment or not is_https_or_loopback_http(url):
        raise ValueError(f"{url!r} must be an https URL (plain http only on loopback), without a fragment")
