"""Sealing a refresh token's successor for the grace window (docs/decisions/0018).

AES-256-GCM (NIST SP 800-38D) with a key generated when the server starts and kept only in its
memory: the database holds ciphertext that nobody, the database's thief included, can open
without that process. Each seal is bound to the rotated token's digest (the associated data),
so a sealed pair cannot be moved to another row. A restart loses the key, which only ends the
grace of the tokens rotated in the last seconds before it.
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class Sealer:
    def __init__(self) -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))

    def seal(self, plaintext: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> bytes | None:
        """The plaintext, or ``None`` if it was sealed by another process or altered."""
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], bound_to.encode())
        except InvalidTag:
            return None
