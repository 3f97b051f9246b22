"""JWT access tokens (RFC 9068), audience-bound to one MCP server (RFC 8707).

RFC 9068 §2.1: header ``typ`` is ``at+jwt``; §2.2: ``iss``, ``exp``, ``aud``, ``sub``,
``client_id``, ``iat`` and ``jti`` are required, ``scope`` is added when scopes were granted.
"""

import secrets
import time
from dataclasses import dataclass

from authorization_server.tokens.keys import KeySet
from shared.scopes import format_scope

TYP = "at+jwt"


@dataclass(frozen=True)
class AccessTokenClaims:
    """Who the token is for and what it allows; the rest is filled in at minting."""

    issuer: str
    subject: str
    audience: str
    client_id: str
    scope: tuple[str, ...]


def mint(keys: KeySet, claims: AccessTokenClaims, ttl: int) -> str:
    now = int(time.time())
    payload = {
        "iss": claims.issuer,
        "sub": claims.subject,
        "aud": claims.audience,
        "client_id": claims.client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
    }
    if claims.scope:
        payload["scope"] = format_scope(claims.scope)
    return keys.sign(payload, TYP)
