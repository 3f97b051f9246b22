"""Proof Key for Code Exchange, S256 only (RFC 7636).

The ``plain`` method is never offered nor accepted: OAuth 2.1 §7.5.2 and RFC 9700 §2.1.1 make
S256 the method to use, and MCP clients must refuse servers that do not support it.
"""

import hmac
import re
import secrets

from authlib.oauth2.rfc7636 import create_s256_code_challenge

METHOD = "S256"

#: RFC 7636 §4.1: code-verifier = 43*128unreserved; §4.2 gives the challenge the same shape.
VERIFIER_PATTERN = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
CHALLENGE_PATTERN = VERIFIER_PATTERN


def new_verifier() -> str:
    """A fresh verifier: 32 random octets, base64url-encoded to 43 characters (RFC 7636 §4.1)."""
    return secrets.token_urlsafe(32)


def s256_challenge(verifier: str) -> str:
    """``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`` (RFC 7636 §4.2)."""
    challenge: str = create_s256_code_challenge(verifier)
    return challenge


def verify_s256(verifier: str, challenge: str) -> bool:
    """The server's check of RFC 7636 §4.6, in constant time."""
    if not VERIFIER_PATTERN.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256_challenge(verifier), challenge)
