"""Encryption at rest of the downstream tokens the authorization server must use again (issue 4).

A downstream provider's access and refresh tokens, and the PKCE verifier of a downstream
authorization in progress, are needed in clear later, so they cannot be digests like our own
secrets (``secrets_at_rest.py``). They are sealed with AES-256-GCM (NIST SP 800-38D) under the
key of the ``downstream_token_key`` setting: a random 96-bit nonce per value, and associated
data naming the row and column the value belongs to, so a ciphertext copied to another row or
column does not open (docs/decisions/0021-downstream-authorization.md).

Stored form: one version byte, the nonce, then ciphertext and tag.
"""

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32


def new_key() -> str:
    """A fresh key in the setting's form: 32 random octets, base64url."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


def parse_key(text: str) -> bytes:
    """The 32-octet key written as base64url (padding optional); ``ValueError`` if it is not one."""
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("downstream_token_key is not base64url") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"downstream_token_key must be {KEY_BYTES} octets (base64url), not {len(key)}")
    return key


class Undecryptable(Exception):
    """A sealed value that does not open under this key with this associated data."""


class Sealer:
    """Seals and opens values with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, associated_data: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), associated_data.encode())

    def open(self, sealed: bytes, associated_data: str) -> str:
        if sealed[:1] != VERSION:
            raise Undecryptable("unknown format")
        nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, associated_data.encode()).decode()
        except InvalidTag:
            raise Undecryptable("wrong key, or sealed for another row") from None
