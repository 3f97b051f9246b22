"""RFC 7638 JWK thumbprints (``shared/jwk.py``): the ``kid`` of the signing keys, DPoP's ``jkt`` (RFC 9449 §6)."""

import pytest

from mcp_authz.shared.jwk import thumbprint

#: RFC 7638 §3.1's example key and its thumbprint.
RFC_7638_KEY = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
        "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdA"
        "ZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
        "kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_rfc_7638_3_1_the_example_keys_thumbprint():
    """RFC 7638 §3.1: the example RSA key's SHA-256 thumbprint; members other than the required ones
    (``alg``, ``kid``) do not count (§3.2)."""
    assert thumbprint(RFC_7638_KEY) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rfc_7638_3_2_a_key_without_its_required_members_has_no_thumbprint():
    """RFC 7638 §3.2: an EC key needs crv, kty, x and y; an unknown kty has no required members."""
    with pytest.raises(ValueError):
        thumbprint({"kty": "EC", "crv": "P-256", "x": "AAAA"})
    with pytest.raises(ValueError):
        thumbprint({"kty": "oct", "k": "AAAA"})
