"""Secrets, codes and tokens: generated from a CSPRNG, stored only as SHA-256 digests.

They are high-entropy random strings (256 bits), so a fast unsalted digest is enough to make a
stolen database useless for presenting them (RFC 6819 §5.1.4.1.3); compare in constant time.
"""

import hashlib
import hmac
import secrets


def new_secret() -> str:
    """32 random octets, base64url: 43 characters."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def new_id(prefix: str) -> str:
    """A readable, unguessable identifier such as ``jrn_Vh3...``."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"
