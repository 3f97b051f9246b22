"""Verifying JWT access tokens locally (RFC 9068 §4), with the issuer's keys fetched once.

The issuer's metadata (RFC 8414, at the path-inserted well-known URL) names its ``jwks_uri``;
the key set is fetched then, and again only when a token names a key we do not have (the
issuer rotated its keys), at most once every ``REFETCH_INTERVAL`` seconds. A token that
verified is remembered by its digest until it expires, so each token costs one signature check.

A token is accepted only if all of these hold, else it is ``invalid_token``:

- header ``typ`` is ``at+jwt`` (or ``application/at+jwt``) and ``alg`` is one of our fixed list
  and the algorithm of the key it names (no ``none``, no key confusion, RFC 8725 §2.1);
- the signature verifies with that key from the issuer's JWK Set;
- ``iss`` is the configured issuer, character for character;
- ``aud`` names this server's resource (RFC 8707; MCP: tokens for other resources are refused);
- ``exp``, ``iat``, ``sub``, ``client_id`` and ``jti`` are present, and ``exp`` is in the future.
"""

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

import httpx2
import jwt
from mcp.server.auth.provider import AccessToken

from mcp_authz.mcp_server.settings import ALGORITHMS, Settings
from mcp_authz.shared.metadata import AuthorizationServerMetadata
from mcp_authz.shared.resource import same_resource
from mcp_authz.shared.scopes import parse_scope
from mcp_authz.shared.well_known import authorization_server_metadata_url

log = logging.getLogger("mcp_server")

REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub", "client_id", "jti"]
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")


def is_machine(claims: dict[str, Any]) -> bool:
    """A machine's token: no user behind it (issue 11 item 1).

    The issuer marks it with ``"machine": true`` (RFC 9068 §2.2 allows more claims): a client_credentials
    token (OAuth 2.1 §4.2), whose ``sub`` is its ``client_id`` (docs/decisions/0018), and a workload's
    token (SEP-1933), whose ``sub`` is the workload's own (docs/decisions/0051). The marker alone decides:
    requiring ``sub`` = ``client_id`` as well let a workload's token call tools declared for users.
    Taking a token for a machine's only ever refuses more (those tools), so the check errs that way.
    """
    return claims.get("machine") is True


def bound_key(claims: dict[str, Any]) -> str | None:
    """The thumbprint of the DPoP key the token is bound to (``cnf.jkt``, RFC 9449 §6.1), or ``None``."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else None


class InvalidToken(Exception):
    """The token is not acceptable; the message says why (it is sent as ``error_description``)."""


class IssuerUnavailable(Exception):
    """The issuer's metadata or keys could not be fetched, so no token can be checked now."""


class Verifier(Protocol):
    async def verify(self, token: str) -> AccessToken:
        """The token's claims; ``InvalidToken`` or ``IssuerUnavailable`` when it cannot be accepted."""
        ...


class JwtVerifier:
    #: Seconds between two fetches for an unknown ``kid``: short, because right after the issuer
    #: rotates its keys every new token names one; long enough that made-up kids cannot make us
    #: hammer the issuer.
    REFETCH_INTERVAL = 5.0
    CACHE_SIZE = 10_000

    def __init__(self, settings: Settings) -> None:
        self._issuer = settings.auth_server
        self._resource = settings.resource
        self._keys: jwt.PyJWKSet | None = None
        self._metadata: AuthorizationServerMetadata | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._verified: OrderedDict[bytes, AccessToken] = OrderedDict()

    async def verify(self, token: str) -> AccessToken:
        """The token's claims as the MCP SDK's ``AccessToken``; ``InvalidToken`` says why it is refused."""
        digest = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(digest)
        if known is not None and known.expires_at is not None and known.expires_at > time.time():
            return known
        claims = await self._verified_claims(token)
        access_token = AccessToken(
            token=token,
            client_id=claims["client_id"],
            scopes=list(parse_scope(claims.get("scope", ""))),
            expires_at=int(claims["exp"]),
            resource=self._resource,
            subject=claims["sub"],
            claims={
                "iss": claims["iss"],
                "iat": claims["iat"],
                "jti": claims["jti"],
                "machine": is_machine(claims),
                "jkt": bound_key(claims),
            },
        )
        self._remember(digest, access_token)
        return access_token

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("the access token is not a JWT") from None
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("the token is not a JWT access token (typ must be at+jwt, RFC 9068 §4)")
        key = await self._key(header.get("kid"))
        if header.get("alg") not in ALGORITHMS or header.get("alg") != key.algorithm_name:
            raise InvalidToken("the token's signature algorithm is not accepted")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS, "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the access token has expired") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the access token was issued by another authorization server") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"the access token is not valid: {exc}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not any(isinstance(aud, str) and same_resource(aud, self._resource) for aud in audiences):
            raise InvalidToken("the access token was issued for another resource (RFC 8707)")
        return claims

    async def _key(self, kid: object) -> jwt.PyJWK:
        if not isinstance(kid, str):
            raise InvalidToken("the token names no signing key (kid)")
        keys = self._keys or await self._fetch_keys()
        if kid not in _kids(keys) and time.monotonic() - self._fetched_at > self.REFETCH_INTERVAL:
            keys = await self._fetch_keys()
        if kid not in _kids(keys):
            raise InvalidToken("the token is signed with a key the issuer does not publish")
        return keys[kid]

    async def _fetch_keys(self) -> jwt.PyJWKSet:
        async with self._lock:
            if self._keys is not None and time.monotonic() - self._fetched_at < 1.0:
                return self._keys  # another request just fetched them
            try:
                async with httpx2.AsyncClient(timeout=10.0) as http:
                    jwks_uri = (await self._load_metadata(http)).jwks_uri
                    if not jwks_uri:
                        raise ValueError(f"the metadata of {self._issuer} names no jwks_uri")
                    response = await http.get(jwks_uri)
                    response.raise_for_status()
                    self._keys = jwt.PyJWKSet.from_dict(response.json())
            except (httpx2.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                log.warning("cannot fetch the keys of %s: %s", self._issuer, exc)
                raise IssuerUnavailable(f"the keys of {self._issuer} cannot be fetched") from None
            self._fetched_at = time.monotonic()
            log.info("fetched %d signing key(s) of %s", len(self._keys.keys), self._issuer)
            return self._keys

    async def metadata(self) -> AuthorizationServerMetadata:
        """The issuer's metadata (RFC 8414), fetched once; ``IssuerUnavailable`` if it cannot be."""
        if self._metadata is not None:
            return self._metadata
        try:
            async with httpx2.AsyncClient(timeout=10.0) as http:
                return await self._load_metadata(http)
        except (httpx2.HTTPError, ValueError) as exc:
            log.warning("cannot fetch the metadata of %s: %s", self._issuer, exc)
            raise IssuerUnavailable(f"the metadata of {self._issuer} cannot be fetched") from None

    async def _load_metadata(self, http: httpx2.AsyncClient) -> AuthorizationServerMetadata:
        if self._metadata is None:
            response = await http.get(authorization_server_metadata_url(self._issuer))
            response.raise_for_status()
            metadata = AuthorizationServerMetadata.from_json(response.json())
            if metadata.issuer != self._issuer:
                raise ValueError(f"the metadata of {self._issuer} names another issuer")
            self._metadata = metadata
        return self._metadata

    def _remember(self, digest: bytes, access_token: AccessToken) -> None:
        self._verified[digest] = access_token
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)


def _kids(keys: jwt.PyJWKSet) -> set[str]:
    return {key.key_id for key in keys.keys if key.key_id}
