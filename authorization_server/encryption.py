"""Encryption at rest of the downstream tokens and the signing keys the server must use again (issues 4, 11).

A downstream provider's access and refresh tokens, and the PKCE verifier of a downstream
authorization in progress, are needed in clear later, so they cannot be digests like our own
secrets (``secrets_at_rest.py``). They are sealed with AES-256-GCM (NIST SP 800-38D) under the
key of the ``downstream_token_key`` setting: a random 96-bit nonce per value, and associated
data naming the row and column the value belongs to, so a ciphertext copied to another row or
column does not open (docs/decisions/0021-downstream-authorization.md).

The token signing keys are sealed the same way under the ``key_encryption_key`` setting, the
associated data naming the key's row (docs/decisions/0027-signing-keys-at-rest.md).

A just-rotated refresh token's successor pair is sealed the same way for its grace window, under
a key made when the server starts and kept only in its memory (:meth:`Sealer.ephemeral`): the
database holds ciphertext that nobody, the database's thief included, can open without that
process, and a restart only ends the grace of the tokens rotated just before it. The associated
data is the rotated token's digest (docs/decisions/0018).

Stored form: one version byte, the nonce, then ciphertext and tag.
"""

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32


def new_key() -> str:
    """A fresh key in the setting's form: 32 random octets, base64url."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


def parse_key(text: str, name: str = "downstream_token_key") -> bytes:
    """The 32-octet key written as base64url (padding optional); ``ValueError`` naming the setting if it is not one."""
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} is not base64url") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"{name} must be {KEY_BYTES} octets (base64url), not {len(key)}")
    return key


def local_key(path: Path) -> str:
    """The key kept in the file ``path``, made there (mode 0600, never replaced) on first use.

    Demo mode's key for the signing keys when none is configured: kept beside the database, so a
    restart still opens what the last run sealed (docs/decisions/0027).
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        key = new_key()
        file.write(key + "\n")
    return key


class Undecryptable(Exception):
    """A sealed value that does not open under this key with this associated data."""


class Sealer:
    """Seals and opens values with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._key = key

    def derive(self, purpose: str) -> bytes:
        """A key of its own for ``purpose``, the same wherever this key is (HMAC-SHA-256, as HKDF-Expand does).

        The DPoP nonces (RFC 9449 §8): every instance sealing with this key accepts the others' nonces.
        """
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()

    @classmethod
    def ephemeral(cls) -> "Sealer":
        """A sealer under a fresh random key that lives only in this process's memory."""
        return cls(os.urandom(KEY_BYTES))

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
