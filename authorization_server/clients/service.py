"""Registering clients (RFC 7591), managing them (RFC 7592), authenticating them at /token (OAuth 2.1 §2.4)."""

import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from authorization_server import clock
from authorization_server.clients import repository
from authorization_server.clients.entities import Client, ClientCredentials, Registration
from authorization_server.clients.metadata import ClientMetadata
from authorization_server.db import Transaction
from authorization_server.errors import InvalidClient, InvalidClientMetadata, InvalidToken
from authorization_server.secrets_at_rest import digest, matches, new_secret

#: How exactly ``last_used_at`` is kept: a client used again within this time is not written again.
USED_PRECISION = timedelta(hours=1)


class ClientService:
    async def register(self, tx: Transaction, issuer: str, metadata: ClientMetadata) -> Registration:
        """Create a client bound to ``issuer``; confidential clients get a secret that never expires.

        Client ids are random and never start with ``https://``, so they cannot be mistaken for
        client ID metadata document URLs (draft-ietf-oauth-client-id-metadata-document §6).
        """
        secret = None if metadata.token_endpoint_auth_method == "none" else new_secret()
        registration_access_token = new_secret()
        now = clock.now()
        client = Client(
            client_id=secrets.token_urlsafe(18),
            issuer=issuer,
            token_endpoint_auth_method=metadata.token_endpoint_auth_method,
            redirect_uris=metadata.redirect_uris,
            grant_types=metadata.grant_types,
            client_name=metadata.client_name,
            metadata=metadata.to_json(),
            secret_hash=digest(secret) if secret else None,
            secret_expires_at=0,
            created_at=now,
            last_used_at=now,
            registration_token_hash=digest(registration_access_token),
        )
        await repository.add(tx, client)
        return Registration(client, secret, registration_access_token)

    async def managed(self, tx: Transaction, client_id: str, token: str | None, realm: str) -> Client:
        """The client whose registration access token ``token`` is (RFC 7592 §2).

        A missing or wrong token and an unknown client are all the same 401 ``invalid_token``,
        so the answer does not tell whether a client id exists.
        """
        client = await repository.get(tx, client_id)
        if (
            client is None
            or token is None
            or client.registration_token_hash is None
            or not matches(token, client.registration_token_hash)
        ):
            raise InvalidToken("the registration access token is not valid for this client", realm=realm)
        return client

    async def replace_metadata(
        self, tx: Transaction, client: Client, metadata: ClientMetadata, presented_secret: str | None
    ) -> Client:
        """RFC 7592 §2.2: the new metadata replaces the old whole; credentials stay as they are.

        A ``client_secret`` in the request must be the current one, and the authentication method
        cannot change: that would need a new secret, or leave one behind (docs/decisions/0017).
        """
        if presented_secret is not None and not (
            client.secret_hash is not None and matches(presented_secret, client.secret_hash)
        ):
            raise InvalidClientMetadata("client_secret must be the current one; a client cannot choose its secret")
        if metadata.token_endpoint_auth_method != client.token_endpoint_auth_method:
            raise InvalidClientMetadata(
                f"token_endpoint_auth_method cannot change from {client.token_endpoint_auth_method}: register anew"
            )
        await repository.set_metadata(tx, client.client_id, metadata.to_json())
        return replace(
            client,
            redirect_uris=metadata.redirect_uris,
            grant_types=metadata.grant_types,
            client_name=metadata.client_name,
            metadata=metadata.to_json(),
        )

    async def find(self, tx: Transaction, client_id: str, issuer: str) -> Client | None:
        """The client ``client_id`` as registered with ``issuer``; other issuers' clients are unknown here."""
        client = await repository.get(tx, client_id)
        return client if client is not None and client.issuer == issuer else None

    async def authenticate(self, tx: Transaction, issuer: str, credentials: ClientCredentials) -> Client:
        """The client, if it proved who it is with the method it registered (OAuth 2.1 §3.2.1).

        Every failure is ``invalid_client`` (401): MCP clients take it as the sign to register again.
        """
        client = await self.find(tx, credentials.client_id, issuer)
        if client is None:
            raise InvalidClient("unknown client; register again", detail=f"client_id {credentials.client_id!r}")
        if credentials.method != client.token_endpoint_auth_method:
            raise InvalidClient(f"this client authenticates with {client.token_endpoint_auth_method}")
        if not client.is_public and not (
            credentials.secret and client.secret_hash and matches(credentials.secret, client.secret_hash)
        ):
            raise InvalidClient("client authentication failed", detail=f"bad secret for {client.client_id}")
        await self.used(tx, client)
        return client

    async def used(self, tx: Transaction, client: Client) -> None:
        """Note that ``client`` was used, which keeps it from expiring; written at most once an hour."""
        now = clock.now()
        if now - client.last_used_at >= USED_PRECISION:
            await repository.mark_used(tx, client.client_id, now)

    async def all(self, tx: Transaction) -> list[Client]:
        return await repository.all(tx)

    async def idle_since(self, tx: Transaction, moment: datetime) -> list[str]:
        return await repository.idle_since(tx, moment)

    async def delete(self, tx: Transaction, client_ids: list[str]) -> None:
        await repository.delete(tx, client_ids)
