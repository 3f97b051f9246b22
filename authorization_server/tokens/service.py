"""Issuing token pairs for a grant, and rotating refresh tokens (OAuth 2.1 §4.3, RFC 9700 §4.14.2)."""

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.encryption import Sealer, Undecryptable
from mcp_authz.authorization_server.errors import InvalidGrant, InvalidScope, InvalidTarget
from mcp_authz.authorization_server.secrets_at_rest import digest, new_secret
from mcp_authz.authorization_server.tokens import access_tokens, repository
from mcp_authz.authorization_server.tokens.access_tokens import AccessToken
from mcp_authz.authorization_server.tokens.entities import Grant, Refreshed, RefreshToken, RefreshTokenReused
from mcp_authz.authorization_server.tokens.keys import Keys
from mcp_authz.shared.resource import same_resource
from mcp_authz.shared.scopes import format_scope
from mcp_authz.shared.token_response import TokenResponse


class TokenService:
    def __init__(
        self,
        keys: Keys,
        *,
        access_token_ttl: int,
        refresh_token_ttl: int,
        refresh_grace_confidential: int,
        refresh_grace_public: int,
        grace_sealer: Sealer | None = None,
    ) -> None:
        """``grace_sealer`` seals a rotated token's successor pair for its grace window (docs/decisions/0018):
        the key every instance shares (``key_encryption_key``), so that the repeated refresh may reach another
        instance (issue 13); without one, a key of this process's own."""
        self.keys = keys
        self._access_token_ttl = access_token_ttl
        self._refresh_token_ttl = refresh_token_ttl
        self._grace_confidential = timedelta(seconds=refresh_grace_confidential)
        self._grace_public = timedelta(seconds=refresh_grace_public)
        self._sealer = grace_sealer or Sealer.ephemeral()

    async def issue(
        self, tx: Transaction, grant: Grant, *, with_refresh_token: bool, public: bool = False
    ) -> TokenResponse:
        """An access token for the grant and, when the client may refresh, a refresh token of its family.

        A grant with a DPoP key (``grant.jkt``) gets a DPoP-bound access token (RFC 9449 §6.1),
        and a ``public`` client's refresh token is bound to that key too (§5).
        """
        refresh_token = None
        if with_refresh_token:
            refresh_token = new_secret()
            bound = grant.jkt if public else None
            await repository.add(tx, digest(refresh_token), grant, clock.later(self._refresh_token_ttl), dpop_jkt=bound)
        return await self._response(tx, grant, refresh_token)

    async def spend_dpop_proof(self, tx: Transaction, jkt: str, jti: str, expires_at: datetime) -> bool:
        """Record a DPoP proof's ``jti`` for its key until ``expires_at``; ``False`` if used before (RFC 9449 §11.1)."""
        return await repository.spend_dpop_proof(tx, digest(f"{jkt}.{jti}"), expires_at)

    async def refresh(
        self,
        tx: Transaction,
        refresh_token: str,
        *,
        issuer: str,
        client_id: str,
        public: bool,
        scope: tuple[str, ...] | None,
        resource: str | None,
        jkt: str | None = None,
    ) -> Refreshed | RefreshTokenReused:
        """Exchange a refresh token for a new pair; the old one is dead from now on (rotation).

        OAuth 2.1 §4.3.1: a rotated token that comes back means it leaked, so its whole family
        is revoked; except within the grace window, when its own client presents it again while
        its successor is still unused: that client refreshed twice at once, and gets the same
        pair again (docs/decisions/0018). The window is ``refresh_grace_confidential`` long for a
        client that authenticated, and the short ``refresh_grace_public`` for a ``public`` one,
        which proves nothing but its client_id (RFC 9700 §4.14.2). The new refresh token keeps
        the grant's scope and resource; a narrower ``scope`` only narrows the new access token
        (§4.3.1, RFC 8707 §2.2).

        ``jkt`` is the key of the request's DPoP proof: the new access token is bound to it (RFC
        9449 §5), and a refresh token bound to a key (a public client's) is refused without a
        proof of that same key. Such a token proves more than a ``client_id``, so it has the
        confidential clients' grace window (issue 15).
        """
        stored = await repository.get(tx, digest(refresh_token))
        if stored is None or stored.grant.client_id != client_id or stored.grant.issuer != issuer:
            raise InvalidGrant("the refresh token is not valid for this client")
        await repository.forget_successors(tx, self._grace_ended(), stored.grant.journey_id)
        if stored.dpop_jkt is not None and stored.dpop_jkt != jkt:
            raise InvalidGrant("the refresh token is bound to a DPoP key: send a proof of that key (RFC 9449 §5)")
        grace = self._grace_public if public and stored.dpop_jkt is None else self._grace_confidential
        if stored.revoked_at is not None:
            raise InvalidGrant("the refresh token was revoked")
        if stored.rotated_at is not None:
            return await self._presented_again(tx, stored, grace, scope, resource)
        if stored.expires_at < clock.now():
            raise InvalidGrant("the refresh token has expired")
        _check_within_grant(stored, scope, resource)
        successor = new_secret()
        narrowed = replace(stored.grant, scope=scope or stored.grant.scope, jkt=jkt)
        response = await self._response(tx, narrowed, successor)
        sealed = self._sealer.seal(json.dumps(response.to_json()), _grace_data(stored.token_hash)) if grace else None
        if not await repository.mark_rotated(tx, stored.token_hash, digest(successor), sealed):
            # Another instance rotated it since we read it (an engine whose transactions run side by side,
            # issue 13): the later of two at once is a repeat, answered as one.
            again = await repository.get(tx, stored.token_hash)
            if again is None or again.rotated_at is None:
                raise InvalidGrant("the refresh token was already used")
            return await self._presented_again(tx, again, grace, scope, resource)
        await repository.add(
            tx, digest(successor), stored.grant, clock.later(self._refresh_token_ttl), dpop_jkt=stored.dpop_jkt
        )
        return Refreshed(stored.grant.journey_id, response)

    async def forget_ended_successors(self, tx: Transaction, limit: int) -> int:
        """Wipe at most ``limit`` sealed successor pairs whose grace window is over (the maintenance round's
        sweep, in batches; a refresh wipes its own family's at once)."""
        return await repository.forget_some_successors(tx, self._grace_ended(), limit)

    def _grace_ended(self) -> datetime:
        return clock.now() - max(self._grace_confidential, self._grace_public)

    async def _presented_again(
        self,
        tx: Transaction,
        stored: RefreshToken,
        grace: timedelta,
        scope: tuple[str, ...] | None,
        resource: str | None,
    ) -> Refreshed | RefreshTokenReused:
        """A rotated token presented again: the same pair within its grace window, else its family revoked."""
        repeated = await self._successor_in_grace(tx, stored, grace)
        if repeated is None or stored.rotated_at is None:
            await repository.revoke_family(tx, stored.grant.journey_id)
            return RefreshTokenReused(stored.grant.journey_id)
        _check_within_grant(stored, scope, resource)
        return Refreshed(
            stored.grant.journey_id,
            repeated,
            repeated_after=clock.now() - stored.rotated_at,
            bound=stored.dpop_jkt is not None,
        )

    async def _successor_in_grace(
        self, tx: Transaction, rotated: RefreshToken, grace: timedelta
    ) -> TokenResponse | None:
        """The pair ``rotated`` was exchanged for, if still in its ``grace`` window and its refresh token unused."""
        if rotated.rotated_at is None or rotated.successor_sealed is None or rotated.successor_hash is None:
            return None
        if clock.now() - rotated.rotated_at > grace:
            return None
        successor = await repository.get(tx, rotated.successor_hash)
        if successor is None or successor.rotated_at is not None or successor.revoked_at is not None:
            return None
        try:
            plaintext = self._sealer.open(rotated.successor_sealed, _grace_data(rotated.token_hash))
        except Undecryptable:
            return None  # sealed under another key (a demo process's own, before a restart) or altered
        return TokenResponse.from_json(json.loads(plaintext))

    async def revoke_family(self, tx: Transaction, journey_id: str) -> int:
        """Revoke every refresh token issued for a journey's grant; returns how many were live."""
        return await repository.revoke_family(tx, journey_id)

    async def clients_holding_live_tokens(self, tx: Transaction, client_ids: list[str]) -> set[str]:
        """Those of the clients that still hold a live grant: a refresh token they can use."""
        return await repository.clients_holding_live_tokens(tx, client_ids)

    async def grant_of(self, tx: Transaction, token: str, *, issuer: str, client_id: str) -> str | None:
        """The grant (journey id) of a refresh or access token ``client_id`` got at ``issuer``, else ``None``.

        RFC 7009 §2.1: the token must belong to the requesting client; a token of another
        client, another issuer, or none of ours is nobody's grant here.
        """
        stored = await repository.get(tx, digest(token))
        if stored is not None:
            grant = stored.grant
            return grant.journey_id if (grant.issuer, grant.client_id) == (issuer, client_id) else None
        access_token = await self.read_access_token(tx, token)
        if access_token is None:
            return None
        grant = access_token.grant
        return grant.journey_id if (grant.issuer, grant.client_id) == (issuer, client_id) else None

    async def sign_identity_assertion(self, tx: Transaction, claims: dict[str, Any], typ: str) -> str:
        """An ID-JAG (SEP-990): ``claims`` signed with the current key, the one the JWK Set publishes."""
        return (await self.keys.key_set(tx)).sign(claims, typ)

    async def read_access_token(self, tx: Transaction, token: str) -> AccessToken | None:
        """An unexpired access token signed with one of our published keys, else ``None``."""
        return access_tokens.read(await self.keys.key_set(tx), token)

    async def _response(self, tx: Transaction, grant: Grant, refresh_token: str | None) -> TokenResponse:
        return TokenResponse(
            access_token=access_tokens.mint(await self.keys.key_set(tx), grant, self._access_token_ttl),
            token_type="DPoP" if grant.jkt is not None else "Bearer",
            expires_in=self._access_token_ttl,
            refresh_token=refresh_token,
            scope=format_scope(grant.scope),
        )


def _check_within_grant(stored: RefreshToken, scope: tuple[str, ...] | None, resource: str | None) -> None:
    """A refresh may narrow the scope, never widen it, and stays with the grant's resource (OAuth 2.1 §4.3.1)."""
    if scope is not None and not set(scope) <= set(stored.grant.scope):
        raise InvalidScope(f"a refresh may only narrow the granted scope {format_scope(stored.grant.scope)!r}")
    if resource is not None and not same_resource(resource, stored.grant.resource):
        raise InvalidTarget("resource differs from the one this grant is for (RFC 8707 §2.2)")


def _grace_data(token_hash: str) -> str:
    """Binds a sealed successor pair to its row; its key may also seal signing keys, whose rows read otherwise."""
    return f"refresh_tokens.successor_sealed {token_hash}"
