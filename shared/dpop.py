"""DPoP proofs (RFC 9449): what the authorization server and the MCP server check, and what both offer.

Pure: the caller passes the time, the expected method and URL, and the secret of its nonces.
``check_proof`` runs the checks of RFC 9449 §4.3 except the ``jti``'s single use, which needs
storage and stays with the caller (the authorization server keeps it in its database, the MCP
server in memory), and except the nonce's value, which ``Nonces`` judges:

1. one ``DPoP`` header, a JWT (the caller counts the headers);
2. ``typ`` is ``dpop+jwt``; 3. ``alg`` is asymmetric and one the server supports;
4. the signature verifies with the public ``jwk`` of the header, which holds no private part;
5. ``htm`` is the request's method; 6. ``htu`` its URL without query and fragment (§4.3 point 9,
   compared after RFC 3986 §6.2.2 and §6.2.3 normalisation);
7. ``iat`` within ``PROOF_WINDOW`` seconds of now; ``jti`` present;
8. at a resource server, ``ath`` is the hash of the access token (§7.1).

Nonces (§8, §9) are stateless: the number of the current ``NONCE_WINDOW`` and its HMAC under a
server secret, so that every instance holding the secret accepts every instance's nonces; a
nonce of the current or the previous window is fresh.
"""

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt

from mcp_authz.shared.jwk import required_members, thumbprint, verifying_key
from mcp_authz.shared.www_authenticate import quote

#: The asymmetric algorithms a proof may be signed with (RFC 9449 §4.2: no ``none``, no MAC).
ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
PROOF_TYPE = "dpop+jwt"
#: Seconds a proof's ``iat`` may differ from now (RFC 9449 §11.1: "a reasonable window").
PROOF_WINDOW = 60
#: Seconds of one nonce window; a nonce is fresh during its window and the next.
NONCE_WINDOW = 300
#: Members of a public JWK that reveal a private key or a shared secret (RFC 7518 §6).
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: The curve each algorithm signs on (RFC 7518 §3.4, RFC 8037 §3.1).
_CURVES = {"ES256": "P-256", "EdDSA": "Ed25519"}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidProof(Exception):
    """The proof is not acceptable (``invalid_dpop_proof``); the message says why."""


class NonceNeeded(Exception):
    """The proof carries no nonce, or a stale or foreign one (``use_dpop_nonce``, RFC 9449 §8)."""


@dataclass(frozen=True)
class Proof:
    """A proof that passed the checks: its key's thumbprint (``jkt``, RFC 7638) and its ``jti``."""

    jkt: str
    jti: str
    iat: int
    nonce: str | None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


@functools.lru_cache(maxsize=1024)  # a server's own URL, and the few each client sends
def normalise_htu(url: str) -> str:
    """The URL without query and fragment, scheme and host lower-cased, default port dropped (RFC 9449 §4.3)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def _normalised_or_none(url: str) -> str | None:
    try:
        return normalise_htu(url)
    except ValueError:  # urlsplit: an invalid IPv6 literal
        return None


def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    algorithms: tuple[str, ...] = ALGORITHMS,
    access_token: str | None = None,
) -> Proof:
    """The proof's key and ``jti`` once every check of RFC 9449 §4.3 but the ``jti``'s use holds.

    ``access_token``: at a resource server, the token the proof must name by ``ath`` (§7.1).
    ``InvalidProof`` says which check failed.
    """
    header, claims, signing_input, signature = _parts(proof)
    if header.get("typ") != PROOF_TYPE:
        raise InvalidProof("the DPoP proof's typ must be dpop+jwt (RFC 9449 §4.2)")
    alg = header.get("alg")
    if alg not in algorithms or alg not in ALGORITHMS:
        raise InvalidProof(f"the DPoP proof's alg must be one of {', '.join(algorithms)}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidProof("the DPoP proof's header must carry its public key as jwk")
    if any(name in jwk for name in _PRIVATE_MEMBERS):
        raise InvalidProof("the DPoP proof's jwk must be a public key, without private parts")
    try:
        members = required_members(jwk)
    except ValueError:
        raise InvalidProof("the DPoP proof's jwk is not an EC, RSA or OKP public key") from None
    if _CURVES.get(alg, jwk.get("crv")) != jwk.get("crv"):
        raise InvalidProof(f"the DPoP proof's jwk is not a key for {alg}")
    try:
        verified = jwt.get_algorithm_by_name(alg).verify(signing_input, verifying_key(alg, members), signature)
    except (jwt.InvalidKeyError, jwt.PyJWKError, ValueError, TypeError, KeyError):
        raise InvalidProof("the DPoP proof's jwk is not a valid key for its alg") from None
    if not verified:
        raise InvalidProof("the DPoP proof's signature does not verify with its jwk")
    jti, htm, htu, iat = claims.get("jti"), claims.get("htm"), claims.get("htu"), claims.get("iat")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise InvalidProof("the DPoP proof needs a jti")
    if htm != method:
        raise InvalidProof(f"the DPoP proof's htm must be {method}")
    if not isinstance(htu, str) or _normalised_or_none(htu) != normalise_htu(url):
        raise InvalidProof(f"the DPoP proof's htu must be {normalise_htu(url)}")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or not abs(now - iat) <= PROOF_WINDOW:  # NaN too
        raise InvalidProof(f"the DPoP proof's iat must be within {PROOF_WINDOW} s of the server's time")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(access_token)):
            raise InvalidProof("the DPoP proof's ath does not match the access token (RFC 9449 §4.3)")
    nonce = claims.get("nonce")
    return Proof(jkt=thumbprint(jwk), jti=jti, iat=int(iat), nonce=nonce if isinstance(nonce, str) else None)


def _parts(proof: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """A compact JWS's header, claims, signing input and signature (RFC 7515 §7.1), unverified."""
    pieces = proof.split(".")
    if len(pieces) != 3:
        raise InvalidProof("the DPoP proof is not a JWT")
    try:
        header, claims = (json.loads(_b64decode(piece)) for piece in pieces[:2])
        signature = _b64decode(pieces[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidProof("the DPoP proof is not a JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidProof("the DPoP proof is not a JWT")
    return header, claims, f"{pieces[0]}.{pieces[1]}".encode("ascii", "replace"), signature


def _b64decode(piece: str) -> bytes:
    if not _BASE64URL.fullmatch(piece):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))


class Nonces:
    """Server-provided nonces (RFC 9449 §8, §9) that need no storage: a window number and its HMAC."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def current(self, now: float) -> str:
        """The nonce to hand out now (in a ``DPoP-Nonce`` header)."""
        return self._for(int(now // NONCE_WINDOW))

    def check(self, nonce: str | None, now: float) -> None:
        """``NonceNeeded`` unless ``nonce`` is one of ours of the current or the previous window."""
        window = int(now // NONCE_WINDOW)
        if nonce is None or not any(hmac.compare_digest(nonce, self._for(w)) for w in (window, window - 1)):
            raise NonceNeeded("the DPoP proof must carry the nonce of the DPoP-Nonce header (RFC 9449 §8)")

    def _for(self, window: int) -> str:
        packed = struct.pack(">Q", window)
        return b64url(packed + hmac.new(self._secret, b"dpop-nonce" + packed, hashlib.sha256).digest()[:16])


def dpop_challenge(*, algorithms: tuple[str, ...] = ALGORITHMS, **params: str | None) -> str:
    """``DPoP algs="...", error="..."``: a resource server's challenge (RFC 9449 §7.1)."""
    values = {"algs": " ".join(algorithms), **params}
    parts = [f'{name}="{quote(value)}"' for name, value in values.items() if value is not None]
    return "DPoP " + ", ".join(parts)
