"""Registering clients (RFC 7591), keeping those known by a metadata document (CIMD), managing the
registered ones (RFC 7592), and authenticating them at the token endpoint (OAuth 2.1 §2.4, RFC 7523 §2.2)."""

import base64
import hashlib
import json
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.clients import repository
from mcp_authz.authorization_server.clients.assertions import LEEWAY, VerifiedAssertion
from mcp_authz.authorization_server.clients.entities import (
    Client,
    ClientCredentials,
    IdJagAudience,
    MachineApproval,
    Registration,
)
from mcp_authz.authorization_server.clients.metadata import ClientMetadata
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import InvalidClient, InvalidClientMetadata, InvalidGrant, InvalidToken
from mcp_authz.authorization_server.secrets_at_rest import digest, matches, new_secret
from mcp_authz.shared.loopback import is_https_or_loopback_http

#: How exactly ``last_used_at`` is kept: a client used again within this time is not written again.
USED_PRECISION = timedelta(hours=1)
#: The methods that authenticate with a shared secret, which this server issues at registration.
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
#: The one grant a workload client uses (RFC 7523 §2.1, SEP-1933).
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class ClientService:
    async def spend_request(self, tx: Transaction, bucket: str, *, count: int, seconds: int) -> int:
        """The per-client token limit (``web/rate_limits.py``): take one request from ``bucket`` (``count`` per
        ``seconds``), in the database that every instance shares (issue 13); the thousandths of a request left,
        negative when none was. A refusal must raise, so that the unit's rollback undoes the spend."""
        now_ms = int(clock.timestamp() * 1000)
        return await repository.spend_from_bucket(tx, bucket, count=count, seconds=seconds, now_ms=now_ms)

    async def forget_full_buckets(self, tx: Transaction, limit: str, seconds: int, batch: int) -> int:
        """Delete at most ``batch`` buckets of ``limit`` untouched for ``seconds``: full again, as a missing one
        is (the upkeep, in batches); how many."""
        idle_since_ms = int((clock.timestamp() - seconds) * 1000)
        return await repository.delete_full_buckets(tx, limit, idle_since_ms, batch)

    async def register(self, tx: Transaction, issuer: str, metadata: ClientMetadata) -> Registration:
        """Create a client bound to ``issuer``; a client that authenticates with a secret gets one that never expires.

        Client ids are random and never start with ``https://``, so they cannot be mistaken for
        client ID metadata document URLs (draft-ietf-oauth-client-id-metadata-document §6).
        """
        secret = new_secret() if metadata.token_endpoint_auth_method in SECRET_METHODS else None
        registration_access_token = new_secret()
        client = _client(
            new_client_id(),
            issuer,
            metadata,
            digest(secret) if secret else None,
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
        if client.blocked:
            raise InvalidToken("this client is blocked by the server's operator", realm=realm)
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

    async def from_document(self, tx: Transaction, url: str, issuer: str, metadata: ClientMetadata) -> Client:
        """The client whose metadata document at ``url`` says ``metadata``; its row is added or refreshed.

        The row, keyed by the URL, lets journeys, consents and tokens refer to the client as to a
        registered one. It is this server's at every issuer (``find``); ``issuer`` is the root.
        A new document URL is a new client: it inherits no consent.
        """
        stored = await repository.get(tx, url)
        wanted = metadata.to_json()
        if stored is not None and stored.metadata == wanted:
            return stored
        await repository.add(tx, _client(url, issuer, metadata, None), refresh=True)
        refreshed = await repository.get(tx, url)
        assert refreshed is not None
        return refreshed

    async def find(self, tx: Transaction, client_id: str, issuer: str) -> Client | None:
        """The client ``client_id`` as registered with ``issuer``; other issuers' clients are unknown here.

        A client known by its metadata document belongs to no issuer in particular: it is found at every one.
        """
        client = await repository.get(tx, client_id)
        if client is None or not (client.issuer == issuer or client.from_metadata_document):
            return None
        return client

    async def authenticate(
        self,
        tx: Transaction,
        client: Client | None,
        credentials: ClientCredentials,
        assertion: VerifiedAssertion | None = None,
    ) -> Client:
        """``client``, as :meth:`find` gave it, if it proved who it is with the method it registered (OAuth 2.1 §3.2.1).

        For ``private_key_jwt`` the caller verified the assertion (``assertion``) against the
        client's keys; here its ``jti`` is spent, so that a replay fails (RFC 7523 §3).
        Every failure is ``invalid_client`` (401): MCP clients take it as the sign to register again.
        """
        if client is None:
            raise InvalidClient("unknown client; register again", detail=f"client_id {credentials.client_id!r}")
        if client.blocked:
            raise InvalidClient("this client is blocked by the server's operator", detail=f"{client.client_id} blocked")
        if client.is_workload:  # it proves who it is only with its platform's JWT (decision 0051)
            raise InvalidClient("a workload authenticates only with its workload JWT, at the jwt-bearer grant")
        if credentials.method != client.token_endpoint_auth_method:
            raise InvalidClient(f"this client authenticates with {client.token_endpoint_auth_method}")
        if client.token_endpoint_auth_method == "private_key_jwt":
            await self._spend(tx, client, assertion)
        elif not client.is_public and not (
            credentials.secret and client.secret_hash and matches(credentials.secret, client.secret_hash)
        ):
            raise InvalidClient("client authentication failed", detail=f"bad secret for {client.client_id}")
        return client

    async def workload(self, tx: Transaction, *, issuer: str, issuer_name: str, iss: str, sub: str) -> Client:
        """The client row of the workload ``sub`` of the trusted workload issuer ``iss``, added on its first grant.

        Workload identity federation has no registration (SEP-1933); the row lets journeys, tokens and the
        console name the workload (docs/decisions/0051). Its ``client_id`` is derived from this server's
        ``issuer``, ``iss`` and ``sub``: the same workload is the same client at each grant, and two
        workloads are two clients. No secret, no redirect URI, no registration access token.
        """
        client_id = workload_client_id(issuer, iss, sub)
        stored = await repository.get(tx, client_id)
        if stored is not None:
            if not stored.is_workload:
                raise InvalidGrant("this workload's client id is taken", detail=f"{client_id} is not a workload")
            return stored
        now = clock.now()
        client = Client(
            client_id=client_id,
            issuer=issuer,
            token_endpoint_auth_method="none",
            redirect_uris=(),
            grant_types=(JWT_BEARER_GRANT,),
            client_name=f"workload {issuer_name}: {sub}",
            metadata={
                "client_name": f"workload {issuer_name}: {sub}",
                "grant_types": [JWT_BEARER_GRANT],
                "token_endpoint_auth_method": "none",
            },
            secret_hash=None,
            secret_expires_at=0,
            created_at=now,
            last_used_at=now,
            workload_issuer=issuer_name,
            workload_subject=sub,
        )
        await repository.add(tx, client)
        return client

    async def used(self, tx: Transaction, client: Client) -> None:
        """Note that ``client`` was issued a token, which keeps it from expiring; written at most once an hour.

        Only a grant counts (``flow/token/service.py``): an /authorize, or a public client naming
        itself at /token, proves nothing about the client (issue 11, item 4).
        """
        now = clock.now()
        if now - client.last_used_at >= USED_PRECISION:
            await repository.mark_used(tx, client.client_id, now)

    async def set_blocked(self, tx: Transaction, client_id: str, blocked: bool) -> bool:
        """Block or unblock a client (docs/decisions/0025); ``False`` if there is no such client."""
        return await repository.set_blocked(tx, client_id, blocked)

    async def approve_machine(
        self, tx: Transaction, client: Client, mcp_server_id: str, scopes: tuple[str, ...]
    ) -> MachineApproval:
        """The operator lets ``client`` use the client_credentials grant for one MCP server (OAuth 2.1 §4.2).

        Only a confidential client with credentials of its own: never a public one, and never one
        known by its metadata document, whose keys are whatever its document says (docs/decisions/0018).
        """
        if client.is_public:
            raise ValueError("the client_credentials grant is only for confidential clients (OAuth 2.1 §4.2)")
        if client.from_metadata_document:
            raise ValueError("a client known by its metadata document cannot be approved; add it with `clients add`")
        approval = MachineApproval(client.client_id, mcp_server_id, scopes, clock.now())
        await repository.approve(tx, approval)
        return approval

    async def machine_approvals(self, tx: Transaction, client_id: str) -> list[MachineApproval]:
        """The MCP servers the operator let ``client_id`` get client_credentials tokens for, and their scopes."""
        return await repository.approvals(tx, client_id)

    async def machine_approval(self, tx: Transaction, client: Client, mcp_server_id: str) -> MachineApproval | None:
        """The approval of ``client`` for one MCP server; a metadata document's client never has one."""
        if client.from_metadata_document:
            return None
        approvals = await repository.approvals(tx, client.client_id)
        return next((approval for approval in approvals if approval.mcp_server_id == mcp_server_id), None)

    async def allow_id_jag(
        self, tx: Transaction, client: Client, audience: str, audience_client_id: str
    ) -> IdJagAudience:
        """This server as an IdP lets ``client`` get ID-JAGs for the authorization server ``audience`` (SEP-990).

        Only a confidential client added here, as for client_credentials (docs/decisions/0049).
        """
        if client.is_public or client.from_metadata_document:
            raise ValueError("only a confidential client added here (`clients add`) may get ID-JAGs")
        if not is_https_or_loopback_http(audience):
            raise ValueError("--audience must be the authorization server's issuer: an https URL (http on loopback)")
        if not audience_client_id.strip() or len(audience_client_id) > 256:
            raise ValueError("--audience-client-id must be the client's id at that authorization server")
        allowed = IdJagAudience(client.client_id, audience, audience_client_id, clock.now())
        await repository.allow_id_jag(tx, allowed)
        return allowed

    async def withdraw_id_jag(self, tx: Transaction, client_id: str, audience: str) -> None:
        if not await repository.withdraw_id_jag(tx, client_id, audience):
            raise ValueError(f"client {client_id!r} may not get ID-JAGs for {audience!r} anyway")

    async def id_jag_audiences(self, tx: Transaction, client_id: str | None = None) -> list[IdJagAudience]:
        """The authorization servers a client (or any) may get ID-JAGs for."""
        return await repository.id_jag_audiences(tx, client_id)

    async def withdraw_machine(self, tx: Transaction, client_id: str, mcp_server_ids: list[str] | None) -> list[str]:
        """Withdraw approvals (for these MCP servers, or all); returns the MCP servers withdrawn."""
        return await repository.withdraw(tx, client_id, mcp_server_ids)

    async def get(self, tx: Transaction, client_id: str) -> Client | None:
        """The client ``client_id``, at whatever issuer; for the operator's command line."""
        return await repository.get(tx, client_id)

    async def all(self, tx: Transaction) -> list[Client]:
        return await repository.all(tx)

    async def idle_since(self, tx: Transaction, moment: datetime) -> list[str]:
        return await repository.idle_since(tx, moment)

    async def idle_among(self, tx: Transaction, client_ids: list[str], moment: datetime) -> list[str]:
        return await repository.idle_among(tx, client_ids, moment)

    async def delete(self, tx: Transaction, client_ids: list[str]) -> None:
        await repository.delete(tx, client_ids)

    async def _spend(self, tx: Transaction, client: Client, assertion: VerifiedAssertion | None) -> None:
        if assertion is None or assertion.client_id != client.client_id:
            raise InvalidClient("client_assertion is required for this client (private_key_jwt)")
        # RFC 7523 §3 item 7: an assertion is accepted until exp + LEEWAY (clock skew), so its jti
        # must be remembered as long, or it could be replayed in the leeway after exp.
        forget = clock.now() - timedelta(seconds=LEEWAY)
        jti_hash = digest(assertion.jti)
        if not await repository.spend_assertion(
            tx, client.client_id, jti_hash, assertion.expires_at, forget_expired_before=forget
        ):
            raise InvalidClient("this client_assertion was already used (its jti is single-use, RFC 7523 section 3)")


def workload_client_id(issuer: str, iss: str, sub: str) -> str:
    """``wl_`` and 32 base64url characters of SHA-256 over this server's issuer, the workload's ``iss`` and ``sub``.

    Stable (the same workload, the same id) and collision-resistant (192 bits); the JSON array keeps
    the three apart, so no choice of ``sub`` can pose as another issuer's workload.
    """
    digested = hashlib.sha256(json.dumps([issuer, iss, sub]).encode()).digest()
    return "wl_" + base64.urlsafe_b64encode(digested).decode()[:32]


def new_client_id() -> str:
    """A random client id (RFC 7591 §3.2.1: unique at this server) of 24 base64url characters.

    It never begins with ``-``: an operator passes client ids to the command line
    (``clients delete ID``), where a leading dash would read as an option.
    """
    while (client_id := secrets.token_urlsafe(18)).startswith("-"):
        pass
    return client_id


def _client(
    client_id: str,
    issuer: str,
    metadata: ClientMetadata,
    secret_hash: str | None,
    *,
    registration_token_hash: str | None = None,
) -> Client:
    now = clock.now()
    return Client(
        client_id=client_id,
        issuer=issuer,
        token_endpoint_auth_method=metadata.token_endpoint_auth_method,
        redirect_uris=metadata.redirect_uris,
        grant_types=metadata.grant_types,
        client_name=metadata.client_name,
        metadata=metadata.to_json(),
        secret_hash=secret_hash,
        secret_expires_at=0,
        created_at=now,
        last_used_at=now,
        registration_token_hash=registration_token_hash,
    )
