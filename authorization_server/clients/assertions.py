"""``private_key_jwt`` client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9): pure checks.

The client signs a short-lived JWT with a key of its JWK Set (``jwks`` or ``jwks_uri``,
registered or in its client ID metadata document) and sends it as ``client_assertion``, with
``client_assertion_type`` = :data:`ASSERTION_TYPE`. Accepted: an asymmetric algorithm of
:data:`SIGNING_ALGS` (never ``none`` nor HMAC, whose "key" would be public), ``iss`` = ``sub`` =
the client id, ``aud`` naming this issuer or its token endpoint, ``exp`` in the future and at
most :data:`MAX_LIFETIME` away, and a ``jti``, which ``ClientService`` lets be used only once
for as long as the assertion is accepted: until ``exp`` + :data:`LEEWAY`. Every failure is
``invalid_client`` (RFC 7523 §3.2).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.errors import InvalidClient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SIGNING_ALGS = ("ES256", "RS256", "PS256", "EdDSA")
#: The key type (and curve) each algorithm needs.
_KEY_TYPES = {"ES256": ("EC", "P-256"), "RS256": ("RSA", None), "PS256": ("RSA", None), "EdDSA": ("OKP", "Ed25519")}
#: How far in the future an assertion's ``exp`` may be, seconds; and the clock skew allowed.
MAX_LIFETIME = 300
LEEWAY = 30
MAX_KEYS = 10
MAX_JTI_LENGTH = 256
MIN_RSA_BITS = 2048
#: JWK members that only a private or symmetric key has.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


@dataclass(frozen=True)
class VerifiedAssertion:
    """A client assertion whose signature and claims were checked; its ``jti`` is not yet spent."""

    client_id: str
    jti: str
    expires_at: datetime


def parse_jwks(value: object) -> dict[str, Any]:
    """A JWK Set of public signing keys (RFC 7517 §5), as given; ``ValueError`` says what is wrong."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        raise ValueError('jwks must be a JWK Set: {"keys": [...]} with at least one key')
    if len(value["keys"]) > MAX_KEYS:
        raise ValueError(f"jwks may hold at most {MAX_KEYS} keys")
    for jwk in value["keys"]:
        if not isinstance(jwk, dict) or any(member in jwk for member in _PRIVATE_MEMBERS):
            raise ValueError("jwks must hold public keys only, never private or symmetric ones")
        if jwk.get("alg") is not None and jwk["alg"] not in SIGNING_ALGS:
            raise ValueError(f"jwks key algorithm must be one of {', '.join(SIGNING_ALGS)}")
        try:
            key = jwt.PyJWK(jwk).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            raise ValueError("jwks holds a key that is not a valid EC P-256, RSA or Ed25519 public key") from None
        if isinstance(key, RSAPublicKey) and key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    return value


def asserted_client_id(assertion: str) -> str:
    """The client an assertion says it comes from (its ``sub``), before anything is verified."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidClient("client_assertion is not a JWT") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidClient("client_assertion has no sub naming the client")
    return subject


def verify_assertion(
    assertion: str, jwks: dict[str, Any], *, client_id: str, audiences: tuple[str, ...]
) -> VerifiedAssertion:
    """Check the assertion's signature against ``jwks`` and its claims (RFC 7523 §3)."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise InvalidClient("client_assertion is not a JWT") from None
    alg = header.get("alg")
    if alg not in SIGNING_ALGS:
        raise InvalidClient(f"client_assertion must be signed with one of {', '.join(SIGNING_ALGS)}")
    keys = [jwk for jwk in jwks.get("keys", ()) if fits(jwk, alg, header.get("kid"))]
    if not keys:
        raise InvalidClient("no key of the client's JWK Set fits the client_assertion's alg and kid")
    claims = _decode(assertion, keys, alg, client_id, audiences)
    if claims.get("sub") != client_id:
        raise InvalidClient("client_assertion's sub must be the client_id (RFC 7523 section 3)")
    if claims["exp"] > clock.now().timestamp() + MAX_LIFETIME + LEEWAY:
        raise InvalidClient(f"client_assertion must expire within {MAX_LIFETIME} s")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise InvalidClient(f"client_assertion needs a jti of at most {MAX_JTI_LENGTH} characters")
    return VerifiedAssertion(client_id, jti, datetime.fromtimestamp(claims["exp"], UTC))


def fits(jwk: dict[str, Any], alg: str, kid: object) -> bool:
    """Whether a JWK can check a signature of ``alg`` with header ``kid`` (its type, curve, alg, use and kid)."""
    kty, crv = _KEY_TYPES[alg]
    return (
        jwk.get("kty") == kty
        and (crv is None or jwk.get("crv") == crv)
        and jwk.get("alg") in (None, alg)
        and jwk.get("use") in (None, "sig")
        and (kid is None or jwk.get("kid") == kid)
    )


def decode_signed(assertion: str, keys: list[dict[str, Any]], alg: str, **checks: Any) -> dict[str, Any] | None:
    """The claims of ``assertion`` if one of ``keys`` verifies its signature, else ``None``.

    ``checks`` go to ``jwt.decode`` (audience, issuer, leeway, options); a claim they refuse raises
    pyjwt's error, which the caller names in its own error code.
    """
    for jwk in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion, jwt.PyJWK(jwk, algorithm=alg).key, algorithms=[alg], **checks
            )
            return claims
        except jwt.InvalidSignatureError:
            continue
    return None


def _decode(
    assertion: str, keys: list[dict[str, Any]], alg: str, client_id: str, audiences: tuple[str, ...]
) -> dict[str, Any]:
    try:
        claims = decode_signed(
            assertion,
            keys,
            alg,
            audience=list(audiences),
            issuer=client_id,
            leeway=LEEWAY,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidClient("client_assertion has expired") from None
    except jwt.InvalidAudienceError:
        raise InvalidClient("client_assertion's aud must name this issuer or its token endpoint") from None
    except jwt.InvalidIssuerError:
        raise InvalidClient("client_assertion's iss must be the client_id (RFC 7523 section 3)") from None
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidClient(f"client_assertion is not valid: {exc}") from None
    if claims is None:
        raise InvalidClient("client_assertion's signature does not verify with the client's keys")
    return claims
