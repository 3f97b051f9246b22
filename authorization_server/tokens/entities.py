"""What tokens are issued for, and the refresh tokens kept for it."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from mcp_authz.shared.token_response import TokenResponse


@dataclass(frozen=True)
class Grant:
    """An authorization the resource owner gave: the basis of every token issued for it.

    ``journey_id`` names the journey it came from; all refresh tokens of one grant form a family.
    An access token carries it as its claims (RFC 9068 §2.2, ``tokens/access_tokens.py``):
    ``iss`` = ``issuer``, ``sub`` = ``subject``, ``aud`` = ``resource`` (RFC 8707), ``client_id``,
    ``scope``, and ``grant_id`` = ``journey_id``; a refresh token keeps it in its row.
    """

    journey_id: str
    issuer: str
    client_id: str
    subject: str
    scope: tuple[str, ...]
    resource: str
    #: A machine client's grant (client_credentials, OAuth 2.1 §4.2): no user, ``subject`` is the client.
    #: Its tokens say so (``"machine": true``); it never has refresh tokens, so it is never stored.
    machine: bool = False
    #: The JWK thumbprint of the DPoP key the access token is bound to (RFC 9449 §6.1, ``cnf.jkt``);
    #: ``None``: a bearer token. Each token request's own proof decides it, so it is not stored.
    jkt: str | None = None


@dataclass(frozen=True)
class RefreshToken:
    """A stored refresh token (its digest) and the grant it continues."""

    token_hash: str
    grant: Grant
    issued_at: datetime
    expires_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None
    #: Once rotated: its successor's digest and, during the grace window, the sealed successor pair.
    successor_hash: str | None = None
    successor_sealed: bytes | None = field(default=None, repr=False)
    #: A public client's refresh token is bound to its DPoP key (RFC 9449 §5): that key's thumbprint.
    dpop_jkt: str | None = None


@dataclass(frozen=True)
class StoredKey:
    """A row of ``signing_keys``: the private key as stored, sealed (``sealed:...``) or, before it was sealed, a PEM.

    ``keys.py`` opens it into a signing key (docs/decisions/0027).
    """

    kid: str
    alg: str
    private_key: str = field(repr=False)
    created_at: datetime


@dataclass(frozen=True)
class RefreshTokenReused:
    """A rotated refresh token came back: its family is revoked (OAuth 2.1 §4.3.1)."""

    journey_id: str


class Refreshed(NamedTuple):
    """A successful refresh: the journey it continues and the new token pair.

    ``repeated_after`` when the token had already been rotated, that long ago, and this is the
    pair that rotation gave, answered again within the grace window (docs/decisions/0018);
    ``bound`` when the token is bound to a DPoP key, which earns a public client the confidential
    clients' window (RFC 9449 §5, docs/decisions/0048).
    """

    journey_id: str
    response: TokenResponse
    repeated_after: timedelta | None = None
    bound: bool = False
