"""The operator pre-registers a client (RFC 7591 §1: "pre-registered") and approves clients for machine access:
``clients add`` and ``clients approve``, and the console's "Add a client" and "Approve" forms, through these use
cases (issue 17).

This is how another authorization server becomes this one's client for a downstream connection of its own (issue 4),
and the only way, with ``clients approve``, to a machine client (the ``client_credentials`` grant, OAuth 2.1 §4.2,
RFC 6749 §4.4: "previously arranged"): the approval of each MCP server named is stored with the client in the same
unit of work (docs/decisions/0018). The metadata is validated as a registration at the issuer is
(``RegistrationService.preregister``); the secret is returned once, only its digest is kept.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from mcp_authz.authorization_server.clients.entities import MachineApproval, Registration
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import OAuthError
from mcp_authz.authorization_server.flow.discovery.issuers import IssuerService, mcp_issuer_url
from mcp_authz.authorization_server.flow.registration.service import RegistrationService
from mcp_authz.authorization_server.flow.revocation.service import RevocationService
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.mcp_servers.entities import McpServer
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.shared.scopes import format_scope, parse_scope

#: How a pre-registered confidential client authenticates at the token endpoint.
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
#: The grants the operator may give it.
GRANTS = ("authorization_code", "client_credentials")


@dataclass(frozen=True)
class NewClient:
    """What the operator gives (``clients add``'s options)."""

    name: str
    redirect_uris: Sequence[str] = ()
    #: ``authorization_code`` (with ``refresh_token``): a user approves; ``client_credentials``: a machine client.
    grants: Sequence[str] = ("authorization_code",)
    #: ``ID`` or ``ID:SCOPE,SCOPE``: the MCP servers its machine tokens are for, and the scopes (default: the
    #: server's default scopes); for an authorization-code client, the one MCP server whose issuer it registers at.
    mcp_servers: Sequence[str] = ()
    auth_method: str = "client_secret_basic"
    #: Its public JWK Set (``private_key_jwt``), as given; validated as registration metadata (RFC 7591 §2).
    jwks: object | None = None
    jwks_uri: str | None = None


@dataclass(frozen=True)
class AddedClient:
    registration: Registration
    #: The issuer it is registered at: the one MCP server's named, else the root issuer.
    issuer: str
    approved: list[MachineApproval]


async def approvals(
    db: Database, mcp_servers: McpServerService, named: Sequence[str], *, approving: bool = True
) -> list[tuple[McpServer, tuple[str, ...]]]:
    """``ID`` or ``ID:SCOPE,SCOPE`` each: the MCP server and the scopes approved there (RFC 6749 §3.3).

    Without ``approving`` only the servers matter (an authorization-code client). ``ValueError`` says what is wrong.
    """
    servers = {server.id: server for server in await db.run(mcp_servers.all)}
    wanted: list[tuple[McpServer, tuple[str, ...]]] = []
    for text in named:
        server_id, _, scope_list = text.partition(":")
        server = servers.get(server_id)
        if server is None:
            raise ValueError(f"no MCP server with id {server_id!r}")
        try:
            scopes = parse_scope(scope_list.replace(",", " ")) if scope_list else server.default_scopes
        except ValueError as exc:
            raise ValueError(f"--mcp-server {text}: {exc}") from None
        unknown = [scope for scope in scopes if scope not in server.scopes]
        if unknown or (approving and not scopes):
            raise ValueError(f"MCP server {server.id!r} offers the scopes {format_scope(server.scopes)}, not {unknown}")
        wanted.append((server, scopes))
    return wanted


class OperatorRegistration:
    def __init__(
        self,
        db: Database,
        *,
        issuers: IssuerService,
        clients: ClientService,
        mcp_servers: McpServerService,
        registration: RegistrationService,
        journeys: JourneyService,
        revocation: RevocationService,
    ) -> None:
        self._db = db
        self._issuers = issuers
        self._clients = clients
        self._mcp_servers = mcp_servers
        self._registration = registration
        self._journeys = journeys
        self._revocation = revocation

    async def approve(self, client_id: str, named: Sequence[str]) -> list[MachineApproval]:
        """Let an existing client use the client_credentials grant for MCP servers (OAuth 2.1 §4.2, decision 0018):
        each of ``named`` is ``ID`` or ``ID:SCOPE,SCOPE`` (default: the server's default scopes).

        The client must be usable at the issuer whose tokens it will ask for: one registered at an MCP
        server's issuer is approved for that MCP server only; one at the root issuer for any. ``ValueError``
        says what is wrong, and then nothing was approved.
        """
        wanted = await approvals(self._db, self._mcp_servers, named)
        root = self._issuers.root.url

        async def unit(tx: Transaction) -> list[MachineApproval]:
            client = await self._clients.get(tx, client_id)
            if client is None:
                raise ValueError(f"no client with id {client_id!r}")
            approved = []
            for server, scopes in wanted:
                if client.issuer not in (root, mcp_issuer_url(root, server.id)):
                    raise ValueError(
                        f"the client is registered at {client.issuer}, which issues no tokens for {server.id!r}"
                    )
                approved.append(await self._clients.approve_machine(tx, client, server.id, scopes))
            return approved

        return await self._db.run(unit)

    async def withdraw(self, client_id: str, mcp_server_ids: Sequence[str] | None = None) -> tuple[list[str], int]:
        """Take back a client's client_credentials approvals (for these MCP servers, or all) and end the machine grant
        each allowed (its journey): the MCP servers withdrawn, and how many grants ended. Its JWT access tokens stay
        valid until they expire, except at MCP servers that introspect (RFC 7662), which see the ended grant at
        once. ``ValueError`` if there is no such client."""

        async def unit(tx: Transaction) -> tuple[list[str], int]:
            if await self._clients.get(tx, client_id) is None:
                raise ValueError(f"no client with id {client_id!r}")
            ids = list(mcp_server_ids) if mcp_server_ids is not None else None
            withdrawn = await self._clients.withdraw_machine(tx, client_id, ids)
            ended = 0
            for mcp_server_id in withdrawn:
                journey_id = await self._journeys.machine_journey(tx, client_id, mcp_server_id)
                if journey_id is not None:
                    await self._revocation.end_grant(
                        tx, journey_id, "the operator withdrew the client_credentials approval"
                    )
                    ended += 1
            return withdrawn, ended

        return await self._db.run(unit)

    async def add(self, new: NewClient) -> AddedClient:
        """Register ``new`` as a confidential client, with its machine approvals; ``ValueError`` says what is wrong,
        and then nothing was written."""
        grants = list(new.grants) or ["authorization_code"]
        if any(grant not in GRANTS for grant in grants):
            raise ValueError(f"--grant must be {' or '.join(GRANTS)}")
        if new.auth_method not in AUTH_METHODS:
            raise ValueError(f"--auth-method must be one of {', '.join(AUTH_METHODS)}")
        machine = "client_credentials" in grants
        interactive = "authorization_code" in grants
        named = list(new.mcp_servers)
        if not new.name.strip():
            raise ValueError("--name is required: the client's name, shown on the consent page")
        if interactive and not new.redirect_uris:
            raise ValueError("--redirect-uri is required for the authorization_code grant")
        if machine and not named:
            raise ValueError("--grant client_credentials needs at least one --mcp-server ID[:SCOPES] to approve")
        if not machine and (len(named) > 1 or any(":" in name for name in named)):
            raise ValueError("several --mcp-server, or ID:SCOPES, are for --grant client_credentials")
        if (new.auth_method == "private_key_jwt") != (new.jwks is not None or new.jwks_uri is not None):
            raise ValueError("--jwks-file or --jwks-uri go with --auth-method private_key_jwt, and it needs one")
        wanted = await approvals(self._db, self._mcp_servers, named, approving=machine)
        issuer = self._issuers.root
        if len(wanted) == 1:
            issuer = await self._issuers.resolve(wanted[0][0].id)
        body = {
            "client_name": new.name,
            "redirect_uris": list(new.redirect_uris) or None,
            "grant_types": (["authorization_code", "refresh_token"] if interactive else [])
            + (["client_credentials"] if machine else []),
            "token_endpoint_auth_method": new.auth_method,
            "jwks": new.jwks,
            "jwks_uri": new.jwks_uri,
        }
        try:
            registration, approved = await self._registration.preregister(
                issuer, {name: value for name, value in body.items() if value is not None}, wanted if machine else []
            )
        except OAuthError as error:
            raise ValueError(error.description) from None
        return AddedClient(registration, issuer.url, approved)
