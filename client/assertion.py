"""``private_key_jwt``: the client authenticates with a JWT it signs itself (RFC 7523 §2.2, §3).

A token (or revocation) request carries the assertion as ``client_assertion``, with
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` (RFC 7523 §2.2).
Its claims (RFC 7523 §3):

- ``iss`` and ``sub``: the client_id;
- ``aud``: the authorization server's issuer identifier, the one value every endpoint of that
  server accepts (draft-ietf-oauth-rfc7523bis; what the MCP conformance suite's
  ``auth/client-credentials-jwt`` checks; decision 0024);
- ``iat`` now and ``exp`` :data:`LIFETIME` seconds later: short, so a stolen one is soon useless;
- ``jti``: fresh for every assertion, so the server can refuse a replay.

The private key stays in its PEM file: it is read when a request is signed, never stored in the
client's store (which keeps the file's path), never printed; the assertion is masked like a token.
"""

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mcp_authz.client.errors import UsageError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Seconds an assertion is valid: long enough for one request, no longer.
LIFETIME = 60
#: The JWS algorithms each key type can sign with (RFC 7518 §3.1, RFC 8037 §3.1); the first is the default.
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


@dataclass(frozen=True)
class SigningKey:
    """A private key from a PEM file, and the algorithm it signs assertions with."""

    path: Path
    algorithm: str
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = field(repr=False)


def load(path: Path, algorithm: str | None = None) -> SigningKey:
    """The unencrypted PEM private key at ``path``; ``algorithm`` defaults to the key type's.

    ES256 for an EC P-256 key (ES384, ES512 for P-384, P-521), RS256 for RSA, EdDSA for Ed25519.
    A :class:`UsageError` names the file, never its content.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--private-key-file: cannot read {path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise UsageError(f"--private-key-file: {path} is not an unencrypted PEM private key") from None
    allowed = _algorithms(key)
    if not allowed or not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise UsageError(f"--private-key-file: {path} is not an RSA, EC (P-256, P-384, P-521) or Ed25519 key")
    chosen = algorithm or allowed[0]
    if chosen not in allowed:
        raise UsageError(f"--private-key-alg: {chosen} cannot sign with the key in {path}; use {', '.join(allowed)}")
    return SigningKey(path, chosen, key)


def sign(key: SigningKey, client_id: str, audience: str) -> str:
    """A fresh assertion that ``client_id`` is calling the authorization server ``audience`` (RFC 7523 §3)."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + LIFETIME,
        "jti": secrets.token_urlsafe(24),
    }
    return jwt.encode(claims, key.key, algorithm=key.algorithm)


def _algorithms(key: PrivateKeyTypes) -> tuple[str, ...]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        name = EC_ALGORITHMS.get(key.curve.name)
        return (name,) if name else ()
    if isinstance(key, rsa.RSAPrivateKey):
        return RSA_ALGORITHMS
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ("EdDSA",)
    return ()
