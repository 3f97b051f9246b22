"""Public JWKs (RFC 7517): their SHA-256 thumbprint (RFC 7638), and the key object that verifies with one.

Used by the authorization server (the ``kid`` of its signing keys), by DPoP at both servers (the
``jkt`` of a proof's key, RFC 9449 §6) and by the client (its DPoP key's ``dpop_jkt``).
"""

import base64
import functools
import hashlib
import json
from typing import Any

import jwt

#: RFC 7638 §3.2: the required members of each key type, which its thumbprint covers.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}

#: A public key's required members, in the order of RFC 7638 §3.3: ``(("crv", ...), ("kty", ...), ...)``.
Members = tuple[tuple[str, str], ...]


def required_members(jwk: dict[str, Any]) -> Members:
    """The members a public key of ``jwk``'s type requires (RFC 7638 §3.2); ``ValueError`` if it lacks one."""
    names = THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if names is None or not all(isinstance(jwk.get(name), str) for name in names):
        raise ValueError("not an EC, RSA or OKP public key")
    return tuple((name, jwk[name]) for name in names)


def thumbprint(jwk: dict[str, Any]) -> str:
    """The JWK SHA-256 thumbprint (RFC 7638 §3), base64url; ``ValueError`` if ``jwk`` is no EC, RSA or OKP key."""
    return _thumbprint(required_members(jwk))


@functools.lru_cache(maxsize=4096)
def _thumbprint(members: Members) -> str:
    canonical = json.dumps(dict(members), separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode("ascii")


@functools.lru_cache(maxsize=4096)
def verifying_key(alg: str, members: Members) -> Any:
    """The key object that verifies ``alg`` signatures with the public key ``members`` describe.

    Built once per key (a client signs each DPoP proof with the same key): building it from the
    JWK costs about a third of checking the signature. ``jwt`` errors, ``ValueError`` or
    ``TypeError`` for a key that is not valid for ``alg``; those are not cached.
    """
    return jwt.get_algorithm_by_name(alg).from_jwk(dict(members))
