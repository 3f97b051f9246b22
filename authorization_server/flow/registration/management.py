"""Client management (RFC 7592): a registered client reads, replaces or deletes its registration.

The client proves itself with the registration access token it got at registration (§1.2),
sent as a Bearer token to its ``registration_client_uri``:

- ``GET``: its current metadata (§2.1);
- ``PUT``: new metadata replacing the old whole, validated as at registration (§2.2);
- ``DELETE``: the client is gone (§2.3): every grant it holds is revoked first, then its rows are
  deleted as idle-client expiry deletes them (``maintenance/clients.py``). It gets ``401
  invalid_client`` at /token from then on, and registers again.

See docs/decisions/0017-client-management.md.
"""

from mcp_authz.authorization_server.clients.entities import Client
from mcp_authz.authorization_server.clients.metadata import parse_client_update
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.flow.discovery.issuers import IssuerService
from mcp_authz.authorization_server.flow.registration.service import RegistrationService
from mcp_authz.authorization_server.flow.revocation.service import RevocationService
from mcp_authz.authorization_server.maintenance.clients import ClientExpiry


class ClientManagementService:
    def __init__(
        self,
        db: Database,
        *,
        issuers: IssuerService,
        clients: ClientService,
        registration: RegistrationService,
        revocation: RevocationService,
        expiry: ClientExpiry,
    ) -> None:
        self._db = db
        self._issuers = issuers
        self._clients = clients
        self._registration = registration
        self._revocation = revocation
        self._expiry = expiry

    async def read(self, client_id: str, token: str | None) -> Client:
        """RFC 7592 §2.1: the client, if ``token`` is its registration access token."""
        return await self._db.run(lambda tx: self._clients.managed(tx, client_id, token, self._issuers.root.url))

    async def replace(self, client_id: str, token: str | None, body: object) -> Client:
        """RFC 7592 §2.2: replace the client's metadata with ``body``'s; fields left out are gone."""

        async def unit(tx: Transaction) -> Client:
            client = await self._clients.managed(tx, client_id, token, self._issuers.root.url)
            presented_secret = parse_client_update(body, client.client_id)
            metadata = await self._registration.parse(await self._issuers.of_url(client.issuer), body)
            return await self._clients.replace_metadata(tx, client, metadata, presented_secret)

        return await self._db.run(unit)

    async def block(self, client_id: str) -> int:
        """The operator blocks a client (docs/decisions/0025): refused everywhere from the next request, and
        every grant it holds ended, in one transaction, as its own deletion (RFC 7592 §2.3) ends them.

        Returns how many grants were ended; ``ValueError`` if there is no such client.
        """

        async def unit(tx: Transaction) -> int:
            if not await self._clients.set_blocked(tx, client_id, True):
                raise ValueError(f"no client with id {client_id!r}")
            return await self._revocation.end_client_grants(tx, client_id, "the operator blocked the client")

        return await self._db.run(unit)

    async def unblock(self, client_id: str) -> None:
        """The client may be used again; the grants ended when it was blocked stay ended (docs/decisions/0025)."""
        if not await self._db.run(lambda tx: self._clients.set_blocked(tx, client_id, False)):
            raise ValueError(f"no client with id {client_id!r}")

    async def delete(self, client_id: str, token: str | None) -> None:
        """RFC 7592 §2.3: revoke the client's grants, then delete it with its rows."""

        async def unit(tx: Transaction) -> None:
            client = await self._clients.managed(tx, client_id, token, self._issuers.root.url)
            await self._revocation.end_client_grants(
                tx, client.client_id, "the client deleted its registration (RFC 7592)"
            )
            await self._expiry.delete(tx, [client.client_id])

        await self._db.run(unit)

    async def delete_by_operator(self, client_id: str) -> int:
        """The operator deletes a client as its own RFC 7592 §2.3 DELETE would (``clients delete``, issue 17):
        its grants end, then it goes with its rows. Returns how many grants were ended; ``ValueError`` if
        there is no such client."""

        async def unit(tx: Transaction) -> int:
            if await self._clients.get(tx, client_id) is None:
                raise ValueError(f"no client with id {client_id!r}")
            ended = await self._revocation.end_client_grants(tx, client_id, "the operator deleted the client")
            await self._expiry.delete(tx, [client_id])
            return ended

        return await self._db.run(unit)
