"""DPoP (RFC 9449): the client's key and the proofs it signs with it.

One key per registration (an EC P-256 key, ES256), made when the client registers and kept in
the store beside the registration as a private JWK: the tokens of that registration are bound
to it, and its refresh token too (a public client's, RFC 9449 §5), so the key must outlive the
run. Each request to the token endpoint or the MCP server carries a fresh proof (§4.2):
``htm``, ``htu`` (without query and fragment), ``iat``, a new ``jti``, the server's ``nonce``
once one was asked for (§8, §9), and at the MCP server ``ath``, the access token's hash (§7.1).
"""

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from mcp_authz.shared.dpop import PROOF_TYPE, access_token_hash, normalise_htu
from mcp_authz.shared.jwk import thumbprint

ALGORITHM = "ES256"
#: The error that asks for the server's nonce, at the token endpoint (RFC 9449 §8) and the MCP server (§9).
USE_NONCE = "use_dpop_nonce"


@dataclass(frozen=True)
class DpopKey:
    """The client's DPoP key pair; ``private_jwk`` is what the store keeps."""

    private_jwk: dict[str, Any] = field(repr=False)

    @classmethod
    def new(cls) -> "DpopKey":
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(json.loads(ECAlgorithm.to_jwk(key)))

    @property
    def public_jwk(self) -> dict[str, Any]:
        return {name: self.private_jwk[name] for name in ("kty", "crv", "x", "y")}

    @property
    def jkt(self) -> str:
        """The key's JWK SHA-256 thumbprint (RFC 7638): ``dpop_jkt`` at /authorize, ``cnf.jkt`` in its tokens."""
        return thumbprint(self.public_jwk)

    def proof(self, method: str, url: str, *, nonce: str | None = None, access_token: str | None = None) -> str:
        """A fresh proof for one request (RFC 9449 §4.2)."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": normalise_htu(url),
            "iat": int(time.time()),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        key = ECAlgorithm(ECAlgorithm.SHA256).from_jwk(self.private_jwk)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # the JWK has its "d": the store keeps it
        headers = {"typ": PROOF_TYPE, "jwk": self.public_jwk}
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers=headers)
