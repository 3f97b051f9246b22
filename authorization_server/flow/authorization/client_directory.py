"""Who a ``client_id`` is: a registered client, or one known by its client ID metadata document.

An https ``client_id`` is the URL of a document the client publishes (CIMD, MCP 2026-07-28;
docs/decisions/0015): its form is checked, it is fetched with ``safe_fetch.py`` (SSRF rules,
size cap, timeout, caching within bounds) and validated (``clients/metadata_documents.py``);
the client's row, keyed by the URL, is then added or refreshed in the request's transaction,
so journeys, consents and tokens treat it as any other client. For ``private_key_jwt``
(docs/decisions/0016) the client's keys come from its registered or published ``jwks``, or are
fetched from its ``jwks_uri`` the same safe way, and the assertion is verified against them.

The network is used here, before the request's transaction opens (one connection serves every
request, docs/decisions/0005); inside it only rows are read and written. Every failure about the
client is ``invalid_client``: the authorization endpoint shows it on a page, the token and
revocation endpoints answer 401. When every fetch slot is taken the answer is
``temporarily_unavailable`` (503, ``Retry-After``), which is about this server, not the client.
"""

from dataclasses import dataclass
from typing import Any

from mcp_authz.authorization_server.clients.assertions import VerifiedAssertion, parse_jwks, verify_assertion
from mcp_authz.authorization_server.clients.entities import Client, ClientCredentials
from mcp_authz.authorization_server.clients.metadata import ClientMetadata
from mcp_authz.authorization_server.clients.metadata_documents import (
    MAX_DOCUMENT_BYTES,
    document_url_problem,
    is_document_url,
    parse_document,
)
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidClient, TemporarilyUnavailable
from mcp_authz.authorization_server.flow.discovery.issuers import GRANT_TYPES, Issuer
from mcp_authz.authorization_server.routes import TOKEN_PATH
from mcp_authz.authorization_server.safe_fetch import Busy, FetchFailed, SafeFetcher

MAX_JWKS_BYTES = 16 * 1024


@dataclass(frozen=True)
class Identified:
    """What the network told about a client, carried into the request's transaction."""

    #: The client's metadata document, when its ``client_id`` is the document's URL.
    document: ClientMetadata | None
    #: A ``private_key_jwt`` assertion whose signature and claims were verified.
    assertion: VerifiedAssertion | None = None


class ClientDirectory:
    def __init__(
        self, db: Database, clients: ClientService, fetcher: SafeFetcher, *, root_issuer: str, allow_loopback: bool
    ) -> None:
        self._db = db
        self._clients = clients
        self._fetcher = fetcher
        self._root_issuer = root_issuer
        self._allow_loopback = allow_loopback

    async def document(self, client_id: str | None) -> ClientMetadata | None:
        """The metadata document ``client_id`` names, fetched and valid; ``None`` for a registered client id."""
        if client_id is None or not is_document_url(client_id):
            return None
        problem = document_url_problem(client_id, allow_loopback=self._allow_loopback)
        if problem:
            raise InvalidClient(f"the client_id is not a valid client metadata document URL: {problem}")

        def parse(body: object) -> ClientMetadata:
            return parse_document(
                client_id, body, grant_types_supported=GRANT_TYPES, allow_loopback_urls=self._allow_loopback
            )

        try:
            return await self._fetcher.get_json(
                "client-metadata-document", client_id, max_bytes=MAX_DOCUMENT_BYTES, parse=parse
            )
        except FetchFailed as failure:
            raise InvalidClient(f"the client metadata document cannot be fetched: {failure}") from None
        except Busy as busy:
            raise TemporarilyUnavailable(str(busy)) from None

    async def identify(self, issuer: Issuer, credentials: ClientCredentials) -> Identified:
        """Fetch what the client's authentication needs and verify its assertion, if it sent one."""
        document = await self.document(credentials.client_id)
        if credentials.method != "private_key_jwt":
            return Identified(document)
        assert credentials.assertion is not None
        metadata = document.to_json() if document else await self._registered_metadata(issuer, credentials.client_id)
        assertion = verify_assertion(
            credentials.assertion,
            await self._keys(metadata),
            client_id=credentials.client_id,
            audiences=(issuer.url, issuer.url + TOKEN_PATH),
        )
        return Identified(document, assertion)

    async def client(
        self, tx: Transaction, issuer: Issuer, client_id: str, document: ClientMetadata | None
    ) -> Client | None:
        """The client, its row refreshed from its metadata document if it has one."""
        if document is not None:
            return await self._clients.from_document(tx, client_id, self._root_issuer, document)
        return await self._clients.find(tx, client_id, issuer.url)

    async def authenticate(
        self, tx: Transaction, issuer: Issuer, credentials: ClientCredentials, identified: Identified
    ) -> Client:
        """The authenticated client (OAuth 2.1 §3.2.1); ``invalid_client`` otherwise."""
        client = await self.client(tx, issuer, credentials.client_id, identified.document)
        return await self._clients.authenticate(tx, client, credentials, identified.assertion)

    async def used(self, tx: Transaction, client: Client) -> None:
        await self._clients.used(tx, client)

    async def _registered_metadata(self, issuer: Issuer, client_id: str) -> dict[str, Any]:
        client = await self._db.run(lambda tx: self._clients.find(tx, client_id, issuer.url))
        if client is None:
            raise InvalidClient("unknown client; register again", detail=f"client_id {client_id!r}")
        return client.metadata

    async def _keys(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """The client's JWK Set: as registered or published, or fetched from its ``jwks_uri`` (cached)."""
        if metadata.get("jwks") is not None:
            return dict(metadata["jwks"])
        url = metadata.get("jwks_uri")
        if url is None:
            raise InvalidClient("this client has no keys for private_key_jwt")
        try:
            return await self._fetcher.get_json("jwks", url, max_bytes=MAX_JWKS_BYTES, parse=_jwks)
        except FetchFailed as failure:
            raise InvalidClient(f"the client's jwks_uri cannot be fetched: {failure}") from None
        except Busy as busy:
            raise TemporarilyUnavailable(str(busy)) from None


def _jwks(body: object) -> dict[str, Any]:
    try:
        return parse_jwks(body)
    except ValueError as exc:
        raise InvalidClient(f"the client's jwks_uri does not hold a usable JWK Set: {exc}") from None
