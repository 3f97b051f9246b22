"""JWT access tokens (RFC 9068), audience-bound to one MCP server (RFC 8707).

RFC 9068 §2.1: header ``typ`` is ``at+jwt``; §2.2: ``iss``, ``exp``, ``aud``, ``sub``,
``client_id``, ``iat`` and ``jti`` are required, ``scope`` is added when scopes were granted.
The token carries a :class:`~authorization_server.tokens.entities.Grant`, the same value the
refresh tokens of its family keep: ``iss`` is its ``issuer``, ``sub`` its ``subject``, ``aud``
its ``resource``, ``client_id`` and ``scope`` its own, and ``grant_id`` its ``journey_id``.
§2.2.3 allows more claims: ``grant_id`` names the grant (the journey) the token was issued for,
so that revocation and introspection can tell whether that grant still stands
(docs/decisions/0010-revocation-and-introspection.md). ``machine`` (``true``, and only on such
tokens) marks a token of the client credentials grant (OAuth 2.1 §4.2): it acts for no user, its
``sub`` is its ``client_id`` (RFC 9068 §2.2), and a resource server may refuse it where a person
must be behind the call (docs/decisions/0018). A DPoP-bound token (RFC 9449 §6.1) carries
``cnf`` with the ``jkt`` of its key.
"""

import secrets
from dataclasses import dataclass

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.tokens.entities import Grant
from mcp_authz.authorization_server.tokens.keys import KeySet
from mcp_authz.shared.scopes import format_scope, parse_scope

TYP = "at+jwt"
#: RFC 9068 §2.2.3 allows more claims; this one marks a machine client's token (client_credentials).
MACHINE_CLAIM = "machine"
REQUIRED_CLAIMS = ["iss", "sub", "aud", "client_id", "iat", "exp", "jti", "grant_id"]


@dataclass(frozen=True)
class AccessToken:
    """An access token this server signed, read back after its signature and expiry were checked."""

    #: The grant it was issued for: who it is for and what it allows.
    grant: Grant
    issued_at: int
    expires_at: int
    jti: str


def mint(keys: KeySet, grant: Grant, ttl: int) -> str:
    """An access token for ``grant``, valid ``ttl`` seconds, signed with the current key (RFC 9068 §2)."""
    now = int(clock.timestamp())
    payload = {
        "iss": grant.issuer,
        "sub": grant.subject,
        "aud": grant.resource,
        "client_id": grant.client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
        "grant_id": grant.journey_id,
    }
    if grant.scope:
        payload["scope"] = format_scope(grant.scope)
    if grant.machine:
        payload[MACHINE_CLAIM] = True
    if grant.jkt is not None:
        payload["cnf"] = {"jkt": grant.jkt}
    return keys.sign(payload, TYP)


def read(keys: KeySet, token: str) -> AccessToken | None:
    """The access token, if one of ``keys`` signed it and it has not expired; ``None`` otherwise."""
    payload = keys.verify(token, TYP, REQUIRED_CLAIMS)
    if payload is None:
        return None
    cnf = payload.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    try:
        grant = Grant(
            journey_id=payload["grant_id"],
            issuer=payload["iss"],
            client_id=payload["client_id"],
            subject=payload["sub"],
            scope=parse_scope(payload.get("scope", "")),
            resource=payload["aud"],
            machine=payload.get(MACHINE_CLAIM) is True,
            jkt=jkt if isinstance(jkt, str) else None,
        )
    except ValueError:
        return None
    return AccessToken(grant, int(payload["iat"]), int(payload["exp"]), str(payload["jti"]))
