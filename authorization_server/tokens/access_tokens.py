"""JWT access tokens (RFC 9068), audience-bound to one MCP server (RFC 8707).

RFC 9068 §2.1: header ``typ`` is ``at+jwt``; §2.2: ``iss``, ``exp``, ``aud``, ``sub``,
``client_id``, ``iat`` and ``jti`` are required, ``scope`` is added when scopes were granted.
§2.2.3 allows more claims: ``grant_id`` names the grant (the journey) the token was issued for,
so that revocation and introspection can tell whether that grant still stands
(docs/decisions/0010-revocation-and-introspection.md). ``machine`` (``true``, and only on such
tokens) marks a token of the client credentials grant (OAuth 2.1 §4.2): it acts for no user, its
``sub`` is its ``client_id`` (RFC 9068 §2.2), and a resource server may refuse it where a person
must be behind the call (docs/decisions/0018).
"""

import secrets
from dataclasses import dataclass

from authorization_server import clock
from authorization_server.tokens.keys import KeySet
from shared.scopes import format_scope, parse_scope

TYP = "at+jwt"
#: RFC 9068 §2.2.3 allows more claims; this one marks a machine client's token (client_credentials).
MACHINE_CLAIM = "machine"
REQUIRED_CLAIMS = ["iss", "sub", "aud", "client_id", "iat", "exp", "jti", "grant_id"]


@dataclass(frozen=True)
class AccessTokenClaims:
    """Who the token is for and what it allows; the rest is filled in at minting."""

    issuer: str
    subject: str
    audience: str
    client_id: str
    scope: tuple[str, ...]
    grant_id: str
    #: Issued by the client credentials grant: no user behind it (the ``machine`` claim).
    machine: bool = False


@dataclass(frozen=True)
class AccessToken:
    """An access token this server signed, read back after its signature and expiry were checked."""

    claims: AccessTokenClaims
    issued_at: int
    expires_at: int
    jti: str


def mint(keys: KeySet, claims: AccessTokenClaims, ttl: int) -> str:
    now = int(clock.timestamp())
    payload = {
        "iss": claims.issuer,
        "sub": claims.subject,
        "aud": claims.audience,
        "client_id": claims.client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
        "grant_id": claims.grant_id,
    }
    if claims.scope:
        payload["scope"] = format_scope(claims.scope)
    if claims.machine:
        payload[MACHINE_CLAIM] = True
    return keys.sign(payload, TYP)


def read(keys: KeySet, token: str) -> AccessToken | None:
    """The access token, if one of ``keys`` signed it and it has not expired; ``None`` otherwise."""
    payload = keys.verify(token, TYP, REQUIRED_CLAIMS)
    if payload is None:
        return None
    try:
        claims = AccessTokenClaims(
            issuer=payload["iss"],
            subject=payload["sub"],
            audience=payload["aud"],
            client_id=payload["client_id"],
            scope=parse_scope(payload.get("scope", "")),
            grant_id=payload["grant_id"],
            machine=payload.get(MACHINE_CLAIM) is True,
        )
    except ValueError:
        return None
    return AccessToken(claims, int(payload["iat"]), int(payload["exp"]), str(payload["jti"]))
