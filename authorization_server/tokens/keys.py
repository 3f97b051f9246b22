"""The signing keys and the public JWK Set (RFC 7517) that lets MCP servers verify our tokens.

Keys are kept in the database, so tokens stay valid across restarts. ES256 is the default:
signing is about ten times cheaper than RS256 (PERF-NOTES.md), and RFC 9068 lets the server
choose. ``keys rotate`` (from the command line, or the console, while the server runs) adds a
newer key. Every instance serving the issuer publishes it in its JWK Set at once, or within
``--cache-check-interval`` (each follows the ``signing_keys`` version of ``change_versions.py``),
and it signs only from ``activation_delay`` (twice that interval) after it was made: so no
instance signs a token with a key that another instance does not publish yet (issue 13). An
older key stays in the JWK Set, and keeps verifying, until every token it signed has expired:
``keep_for`` (the access token lifetime plus a margin) after its successor started signing.

The private keys are stored sealed with AES-256-GCM under the ``key_encryption_key`` setting
(``encryption.py``), bound to their ``kid``: the database, its copies and backups hold no PEM.
A database written before that, with PEMs in clear, is sealed in place when the server starts
or a key is rotated (:func:`seal_plaintext`, docs/decisions/0027-signing-keys-at-rest.md).
"""

import base64
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mcp_authz.authorization_server import change_versions, clock
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.encryption import Sealer, Undecryptable
from mcp_authz.authorization_server.tokens import repository
from mcp_authz.authorization_server.tokens.entities import StoredKey
from mcp_authz.shared.jwk import thumbprint

#: How a sealed private key starts in ``signing_keys.private_key``; a PEM in clear starts with ``-----BEGIN``.
SEALED_PREFIX = "sealed:"


class UnopenableKeys(ValueError):
    """No key to open the signing keys with, or not the key that sealed them."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    #: Derived once: deriving it on every verification cost as much as the check itself.
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
    public_jwk: dict[str, Any]
    created_at: datetime
    #: When it starts signing: at once for the first key, ``activation_delay`` after it was made for a later one.
    signs_from: datetime
    #: When its successor starts signing and it stops; ``None`` for the newest key.
    succeeded_at: datetime | None = None
    #: When the last token it may have signed expires; ``None`` for the newest key.
    retires_at: datetime | None = None

    def state(self, now: datetime) -> str:
        """What ``keys list`` and the console say of it: ``next, signs from …``, ``current``,
        ``published until …`` or ``retired``."""
        if self.signs_from > now:
            return f"next, signs from {self.signs_from:%Y-%m-%d %H:%M:%S} UTC"
        if self.succeeded_at is None or self.succeeded_at > now:
            return "current"
        if self.retires_at is not None and self.retires_at > now:
            return f"published until {self.retires_at:%Y-%m-%d %H:%M:%S} UTC"
        return "retired"


class KeySet:
    """The current signing key and the JWK Set of every key that may still have live tokens."""

    def __init__(self, current: SigningKey, published: list[SigningKey]) -> None:
        self.current = current
        self._by_kid = {key.kid: key for key in published}
        self.jwks_json = json.dumps({"keys": [key.public_jwk for key in published]}).encode()
        retiring = [key.retires_at for key in published if key.retires_at is not None]
        starting = [key.signs_from for key in published if key.signs_from > clock.now()]
        #: When the next published key starts signing or retires, and the set must be loaded again.
        self.changes_at = min(retiring + starting, default=None)

    @classmethod
    async def load(
        cls, tx: Transaction, keep_for: timedelta, sealer: Sealer | None, activation_delay: timedelta
    ) -> "KeySet":
        """The keys in the database: the newest that may sign signs; every key is published until it retires,
        a newer one from the moment it was made."""
        if sealer is None:
            raise UnopenableKeys("key_encryption_key is not set: the signing keys cannot be opened")
        keys = await all_keys(tx, keep_for, sealer, activation_delay)
        if not keys:
            raise RuntimeError("no signing key in the database: start the server to make one")
        now = clock.now()
        signing = [key for key in keys if key.signs_from <= now] or keys[:1]
        return cls(signing[-1], [key for key in keys if key.retires_at is None or key.retires_at > now])

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
                key.public_key,
                algorithms=[key.alg],
                options={"require": required, "verify_aud": False},
            )
        except jwt.InvalidTokenError:
            return None
        return claims


class Keys:
    """The key set of a running server, in step with the database and the clock."""

    #: The default of ``--cache-check-interval``.
    CHECK_INTERVAL = 1.0

    def __init__(
        self, db: Database, keep_for: timedelta, sealer: Sealer | None, check_interval: float = CHECK_INTERVAL
    ) -> None:
        """``sealer`` opens the stored private keys; ``None`` where nothing is signed (most commands).

        ``check_interval``: how often at most the database is asked whether the keys changed; a new key
        signs from twice that after it was made (``activation_delay``).
        """
        self._db = db
        self._keep_for = keep_for
        self._sealer = sealer
        self._check_interval = check_interval
        self.activation_delay = timedelta(seconds=2 * check_interval)
        self._key_set: KeySet | None = None
        self._version: int | None = None
        self._checked_at = 0.0

    async def key_set(self, tx: Transaction) -> KeySet:
        """The current keys, re-read at most once an interval if their version moved, or when a key starts
        signing or retires."""
        key_set = self._key_set
        due = key_set is not None and key_set.changes_at is not None and key_set.changes_at <= clock.now()
        if key_set is not None and not due and self._recently_checked():
            return key_set
        self._checked_at = clock.monotonic()
        version = await change_versions.read(tx, change_versions.SIGNING_KEYS)
        if key_set is None or due or version != self._version:
            key_set = self._key_set = await KeySet.load(tx, self._keep_for, self._sealer, self.activation_delay)
            self._version = version
        return key_set

    async def jwks_json(self) -> bytes:
        """The JWK Set as bytes; the database is asked only when the cached set is due for a check."""
        key_set = self._key_set
        due = key_set is not None and key_set.changes_at is not None and key_set.changes_at <= clock.now()
        if key_set is not None and not due and self._recently_checked():
            return key_set.jwks_json
        return (await self._db.run(self.key_set)).jwks_json

    async def listed(self, tx: Transaction) -> list[SigningKey]:
        """Every stored key, oldest first, with when each retires (``keys list``, the console)."""
        return await all_keys(tx, self._keep_for, self._opener(), self.activation_delay)

    async def rotate(self, tx: Transaction, alg: str) -> SigningKey:
        """``keys rotate`` in this process (the console, issue 17): a new key, published by this instance from
        the next request and signing from ``activation_delay`` on; the cached set is dropped here."""
        key = await add(tx, alg, self._opener(), self.activation_delay)
        self._key_set = None
        return key

    def _opener(self) -> Sealer:
        if self._sealer is None:
            raise ValueError("the signing keys cannot be opened here")
        return self._sealer

    def _recently_checked(self) -> bool:
        return clock.monotonic() - self._checked_at < self._check_interval


async def all_keys(
    tx: Transaction, keep_for: timedelta, sealer: Sealer, activation_delay: timedelta = timedelta(0)
) -> list[SigningKey]:
    """Every stored key, oldest first: each but the first signs from ``activation_delay`` after it was made,
    and each but the newest retires ``keep_for`` after its successor started signing."""
    stored_keys = await repository.signing_keys(tx)
    keys = [
        _signing_key(
            stored.alg,
            open_pem(sealer, stored.kid, stored.private_key),
            stored.created_at,
            stored.created_at + (activation_delay if index else timedelta(0)),
        )
        for index, stored in enumerate(stored_keys)
    ]
    retiring = [
        replace(key, succeeded_at=successor.signs_from, retires_at=successor.signs_from + keep_for)
        for key, successor in pairwise(keys)
    ]
    return retiring + keys[-1:]


async def ensure_current(tx: Transaction, alg: str, sealer: Sealer, activation_delay: timedelta) -> None:
    """At start-up: seal keys stored in clear, then make a key when there is none, or when the newest
    is not for ``alg`` (a rotation, signing after ``activation_delay``)."""
    await seal_plaintext(tx, sealer)
    keys = await all_keys(tx, timedelta(0), sealer)
    if not keys or keys[-1].alg != alg:
        await add(tx, alg, sealer, activation_delay)


async def add(tx: Transaction, alg: str, sealer: Sealer, activation_delay: timedelta = timedelta(0)) -> SigningKey:
    """Make a new key for ``alg``, stored sealed, published by every instance at once or within the check
    interval, signing ``activation_delay`` after now (then the previous one starts retiring)."""
    await seal_plaintext(tx, sealer)
    pem = _new_private_pem(alg)
    now = clock.now()
    key = _signing_key(alg, pem, now, now + activation_delay)
    await repository.add_signing_key(tx, StoredKey(key.kid, alg, _seal(sealer, key.kid, pem), key.created_at))
    await change_versions.bump(tx, change_versions.SIGNING_KEYS)
    return key


async def seal_plaintext(tx: Transaction, sealer: Sealer) -> int:
    """The data migration of issue 11: seal in place every private key still stored as a PEM in clear.

    Each row keeps its ``kid``, so tokens signed before still verify. Returns how many were sealed.
    """
    plain = [stored for stored in await repository.signing_keys(tx) if not stored.private_key.startswith(SEALED_PREFIX)]
    for stored in plain:
        await repository.set_private_key(tx, stored.kid, _seal(sealer, stored.kid, stored.private_key.encode()))
    return len(plain)


def _seal(sealer: Sealer, kid: str, pem: bytes) -> str:
    sealed = sealer.seal(pem.decode(), _associated_data(kid))
    return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode()


def open_pem(sealer: Sealer, kid: str, stored: str) -> bytes:
    """The PEM of a stored key: opened if sealed, as is if still in clear (before :func:`seal_plaintext`)."""
    if not stored.startswith(SEALED_PREFIX):
        return stored.encode()
    try:
        return sealer.open(base64.urlsafe_b64decode(stored.removeprefix(SEALED_PREFIX)), _associated_data(kid)).encode()
    except Undecryptable:
        raise UnopenableKeys(
            f"signing key {kid} does not open with this key_encryption_key: it was sealed with another one"
        ) from None


def _associated_data(kid: str) -> str:
    """Binds a sealed key to its row: a ciphertext copied to another row does not open."""
    return f"signing_keys.private_key {kid}"


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


def _signing_key(alg: str, pem: bytes, created_at: datetime, signs_from: datetime) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"unsupported signing key type {type(private_key).__name__}")  # _new_private_pem's only
    public_key = private_key.public_key()
    algorithm = jwt.get_algorithm_by_name(alg)
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(public_key))
    kid = thumbprint(jwk)
    public_jwk = jwk | {"kid": kid, "alg": alg, "use": "sig"}
    return SigningKey(kid, alg, private_key, public_key, public_jwk, created_at, signs_from)
