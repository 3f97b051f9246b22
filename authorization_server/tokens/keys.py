"""The signing key and the public JWK Set (RFC 7517) that lets MCP servers verify our tokens.

The key is made once and kept in the database, so tokens stay valid across restarts. ES256 is
the default: signing is about ten times cheaper than RS256 (PERF-NOTES.md), and RFC 9068 lets
the server choose. The JWK Set is serialised once, since it only changes with the keys.
"""

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from authorization_server import clock
from authorization_server.db import Transaction

#: RFC 7638 §3.2: the members of each key type that its thumbprint covers.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKeyTypes
    public_jwk: dict[str, Any]


class KeySet:
    """The current signing key and the JWK Set of every key kept."""

    def __init__(self, current: SigningKey, keys: list[SigningKey]) -> None:
        self.current = current
        self._by_kid = {key.kid: key for key in keys}
        self.jwks_json = json.dumps({"keys": [key.public_jwk for key in keys]}).encode()

    @classmethod
    async def load(cls, tx: Transaction, alg: str) -> "KeySet":
        """The keys in the database, after creating one for ``alg`` if there is none yet."""
        rows = await tx.fetch_all("SELECT kid, alg, private_key FROM signing_keys ORDER BY created_at")
        keys = [_signing_key(row["alg"], row["private_key"].encode()) for row in rows]
        current = next((key for key in reversed(keys) if key.alg == alg), None)
        if current is None:
            pem = _new_private_pem(alg)
            current = _signing_key(alg, pem)
            await tx.execute(
                "INSERT INTO signing_keys (kid, alg, private_key, created_at) VALUES (?, ?, ?, ?)",
                (current.kid, alg, pem.decode(), clock.to_db(clock.now())),
            )
            keys.append(current)
        return cls(current, keys)

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        return jwt.encode(
            claims,
            self.current.private_key,
            algorithm=self.current.alg,
            headers={"kid": self.current.kid, "typ": typ},
        )

    def verify(self, token: str, typ: str, required: list[str]) -> dict[str, Any] | None:
        """The claims of an unexpired JWT of type ``typ`` signed by one of these keys, else ``None``."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._by_kid.get(header.get("kid", ""))
            if key is None or header.get("typ") != typ:
                return None
            claims: dict[str, Any] = jwt.decode(
                token,
                key.private_key.public_key(),  # type: ignore[union-attr]
                algorithms=[key.alg],
                options={"require": required, "verify_aud": False},
            )
        except jwt.InvalidTokenError:
            return None
        return claims


def _new_private_pem(alg: str) -> bytes:
    key: PrivateKeyTypes
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    elif alg == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _signing_key(alg: str, pem: bytes) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem, password=None)
    algorithm = jwt.get_algorithm_by_name(alg)
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(private_key.public_key()))  # type: ignore[arg-type]
    kid = _thumbprint(jwk)
    return SigningKey(kid, alg, private_key, jwk | {"kid": kid, "alg": alg, "use": "sig"})


def _thumbprint(jwk: dict[str, Any]) -> str:
    """The JWK thumbprint of RFC 7638 §3: SHA-256 of the required members, base64url."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
