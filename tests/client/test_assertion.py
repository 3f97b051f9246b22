"""private_key_jwt assertions (client/assertion.py, RFC 7523 §2.2, §3) and the secret's method (CL-13)."""

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mcp_authz.client import assertion
from mcp_authz.client.errors import UsageError
from mcp_authz.client.registration import secret_method

ISSUER = "https://auth.example.com/tenant"


def pem_file(tmp_path: Path, key: PrivateKeyTypes, password: bytes | None = None) -> Path:
    encryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )  # fmt: skip
    path = tmp_path / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return path


class TestLoad:
    @pytest.mark.parametrize(
        ("key", "algorithm"),
        [
            (ec.generate_private_key(ec.SECP256R1()), "ES256"),
            (ec.generate_private_key(ec.SECP384R1()), "ES384"),
            (rsa.generate_private_key(65537, 2048), "RS256"),
            (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
        ],
    )
    def test_the_algorithm_follows_the_key_type(self, tmp_path: Path, key: PrivateKeyTypes, algorithm: str) -> None:
        """RFC 7518 §3.1, RFC 8037 §3.1: ES256 for P-256, RS256 for RSA, ... unless --private-key-alg says."""
        assert assertion.load(pem_file(tmp_path, key)).algorithm == algorithm

    def test_an_encrypted_key_is_refused_without_showing_it(self, tmp_path: Path) -> None:
        """The client asks for no password: an encrypted PEM is a usage error naming the file only."""
        path = pem_file(tmp_path, ec.generate_private_key(ec.SECP256R1()), password=b"pw")
        with pytest.raises(UsageError) as refused:
            assertion.load(path)
        assert str(refused.value) == f"--private-key-file: {path} is not an unencrypted PEM private key"

    def test_the_key_is_not_in_its_repr(self, tmp_path: Path) -> None:
        """CL-28: a signing key printed by mistake shows its file, not its numbers."""
        key = ec.generate_private_key(ec.SECP256R1())
        loaded = assertion.load(pem_file(tmp_path, key))
        assert repr(loaded) == f"SigningKey(path={loaded.path!r}, algorithm='ES256')"


class TestSign:
    def test_the_claims_of_rfc_7523(self, tmp_path: Path) -> None:
        """RFC 7523 §3: iss = sub = client_id, aud = the issuer, exp 60 s after iat, a fresh jti; signed."""
        key = ec.generate_private_key(ec.SECP256R1())
        signing = assertion.load(pem_file(tmp_path, key))
        token = assertion.sign(signing, "machine-1", ISSUER)
        claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience=ISSUER)
        assert (claims["iss"], claims["sub"], claims["aud"], claims["exp"] - claims["iat"]) == (
            "machine-1",
            "machine-1",
            ISSUER,
            assertion.LIFETIME,
        )
        assert (
            claims["jti"]
            != jwt.decode(assertion.sign(signing, "machine-1", ISSUER), options={"verify_signature": False})["jti"]
        )


class TestSecretMethod:
    @pytest.mark.parametrize(
        ("supported", "method"),
        [
            (None, "client_secret_basic"),  # RFC 8414 §2: the default when the server says nothing
            (("client_secret_post", "client_secret_basic"), "client_secret_basic"),
            (("none", "client_secret_post"), "client_secret_post"),
            (("private_key_jwt",), "client_secret_basic"),
        ],
    )
    def test_from_the_metadata(self, supported: tuple[str, ...] | None, method: str) -> None:
        """CL-13: Basic where the server lists it or lists nothing; the form where it lists only that."""
        assert secret_method(supported) == method
