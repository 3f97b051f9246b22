"""Dynamic client registration (RFC 7591), generic and for one MCP server (seed 000).

Registering through ``/api/v1/authz/clients/register/mcp/{mcp_server_id}/{version}`` checks that
the MCP server exists, then creates, in one transaction, the client, an Authorization Journey
and the MCP Authorization Flow linking journey, MCP server and client.

No registration gets the ``client_credentials`` grant (issue 11 item 1): it is for resources
"previously arranged with the authorization server" (RFC 6749 §4.4, OAuth 2.1 §4.2), so only the
operator grants it, from the command line (``clients add --grant client_credentials``, ``clients
approve``; docs/decisions/0018). Asking for it here, or in an RFC 7592 update (which validates
through :meth:`RegistrationService.parse`), is ``invalid_client_metadata``.
"""

from collections.abc import Sequence

from mcp_authz.authorization_server.clients.entities import MachineApproval, Registration
from mcp_authz.authorization_server.clients.metadata import ClientMetadata, parse_client_metadata
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidClientMetadata, NotFound
from mcp_authz.authorization_server.flow.discovery.issuers import (
    GRANT_TYPES,
    TOKEN_ENDPOINT_AUTH_METHODS,
    Issuer,
    IssuerService,
)
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.mcp_servers.entities import McpServer, is_version


def check_version(version: str | None) -> None:
    """The ``{version}`` of the MCP registration path is bounded (issue 11 item 15); else 404, no such endpoint."""
    if version is not None and not is_version(version):
        raise NotFound("no registration endpoint at this path: its version is 1 to 64 letters, digits, '.', '_' or '-'")


class RegistrationService:
    def __init__(
        self,
        db: Database,
        *,
        issuers: IssuerService,
        clients: ClientService,
        journeys: JourneyService,
        allow_loopback_urls: bool,
    ) -> None:
        self._db = db
        self._allow_loopback_urls = allow_loopback_urls
        self._issuers = issuers
        self._clients = clients
        self._journeys = journeys

    async def register(self, issuer: Issuer, body: object, mcp_server_version: str | None = None) -> Registration:
        """Validate the metadata and register the client with ``issuer`` (RFC 7591 §3.1, §3.2)."""
        metadata = await self.parse(issuer, body)

        async def unit(tx: Transaction) -> Registration:
            registration = await self._clients.register(tx, issuer.url, metadata)
            if issuer.mcp_server is not None:
                await self._journeys.start_at_registration(
                    tx,
                    issuer=issuer.url,
                    client_id=registration.client.client_id,
                    mcp_server_id=issuer.mcp_server.id,
                    mcp_server_version=mcp_server_version or issuer.mcp_server.version,
                )
            return registration

        return await self._db.run(unit)

    async def preregister(
        self, issuer: Issuer, body: object, approvals: Sequence[tuple[McpServer, tuple[str, ...]]]
    ) -> tuple[Registration, list[MachineApproval]]:
        """The operator registers a client (RFC 7591 §1: "pre-registered"; ``clients add``).

        Validated as a registration at ``issuer`` is, except that the operator may give it the
        ``client_credentials`` grant, with the approval of each of ``approvals`` (an MCP server
        and the scopes) stored in the same transaction (RFC 6749 §4.4, docs/decisions/0018). No
        journey starts: that is the MCP registration endpoint's, for clients that register
        themselves.
        """
        metadata = await self._parse(issuer, body)

        async def unit(tx: Transaction) -> tuple[Registration, list[MachineApproval]]:
            registration = await self._clients.register(tx, issuer.url, metadata)
            approved = [
                await self._clients.approve_machine(tx, registration.client, server.id, scopes)
                for server, scopes in approvals
            ]
            return registration, approved

        return await self._db.run(unit)

    async def parse(self, issuer: Issuer, body: object) -> ClientMetadata:
        """Client metadata validated against what ``issuer`` supports (RFC 7591 §2, §3.2.2).

        ``client_credentials`` is refused: the operator grants it (RFC 6749 §4.4, docs/decisions/0018).
        """
        metadata = await self._parse(issuer, body)
        if "client_credentials" in metadata.grant_types:
            raise InvalidClientMetadata(
                "the client_credentials grant cannot be registered: the server's operator grants it to a client"
                " (OAuth 2.1 section 4.2, RFC 6749 section 4.4: resources previously arranged)"
            )
        return metadata

    async def _parse(self, issuer: Issuer, body: object) -> ClientMetadata:
        return parse_client_metadata(
            body,
            grant_types_supported=GRANT_TYPES,
            auth_methods_supported=TOKEN_ENDPOINT_AUTH_METHODS,
            scopes_offered=await self._issuers.scopes(issuer),
            allow_loopback_urls=self._allow_loopback_urls,
        )
