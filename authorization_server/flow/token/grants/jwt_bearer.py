"""The JWT bearer grant (RFC 7523 §2.1) with an Identity Assertion JWT Authorization Grant (ID-JAG)::

     +--------+  (1) token exchange: the user's ID/access token  +-------------------+
     |        |>------------------------------------------------>| Enterprise IdP    |
     | Client |<--(2) ID-JAG (typ oauth-id-jag+jwt) -------------<|                   |
     |        |                                                  +-------------------+
     |        |  (3) grant_type=jwt-bearer, assertion=ID-JAG,    +-------------------+
     |        |>----- client authentication, [scope] ----------->| this issuer       |
     |        |<--(4) access token, aud = the MCP server --------<| (the resource AS) |
     +--------+                                                  +-------------------+

Enterprise-managed authorization (MCP extension SEP-990; draft-ietf-oauth-identity-assertion-authz-grant
§4.3, §5; docs/decisions/0049). The operator trusts an identity provider for one MCP server
(``mcp-servers trust-idp``): its issuer, its keys (a JWK Set, or a ``jwks_uri`` fetched through
``safe_fetch.py`` and cached) and the clients here that may present its ID-JAGs. Checked, in order:

- the assertion is a JWT with ``typ`` ``oauth-id-jag+jwt`` signed with an asymmetric algorithm
  (RFC 7523 §3 items 1-9 and the draft §3);
- its ``iss`` is an IdP that the MCP server (the issuer's, or the one its ``resource`` names at
  the root issuer) trusts, and the signature verifies with that IdP's keys;
- ``aud`` is this issuer; ``resource`` is the MCP server's (and the request's ``resource``, if any);
  ``exp`` is in the future, ``iat`` not; ``sub``, ``jti`` and ``client_id`` are present;
- the client authenticates (confidential clients only), is the ID-JAG's ``client_id`` and one of
  the clients the operator allowed for that IdP;
- the ``jti`` was not used before (remembered until ``exp`` plus the clock leeway, in the database);
- the scope is what the client asks within what the ID-JAG grants, within the MCP server's scopes
  (RFC 6749 §3.3); nothing left is ``invalid_scope``;
- a DPoP proof, when sent, was checked as for every grant (RFC 9449 §5, ``flow/token/dpop.py``): its ``jti``
  is spent here and the access token is bound to its key (``cnf.jkt``, ``token_type`` DPoP); a client
  registered with ``dpop_bound_access_tokens`` must send one (§5.2).

Anything wrong with the assertion is ``invalid_grant`` (RFC 7523 §3.1). The assertion itself is never
logged: errors name the claim, not its value. No refresh token is issued: the client asks its IdP
for a new ID-JAG (draft §5). Each accepted assertion is one journey, naming the IdP and the subject.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.clients.assertions import LEEWAY, SIGNING_ALGS, decode_signed, fits, parse_jwks
from mcp_authz.authorization_server.clients.entities import ClientCredentials
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import (
    InvalidGrant,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    TemporarilyUnavailable,
    UnauthorizedClient,
)
from mcp_authz.authorization_server.flow.authorization.client_directory import ClientDirectory
from mcp_authz.authorization_server.flow.discovery.issuers import ID_JAG_TYP, Issuer
from mcp_authz.authorization_server.flow.token.dpop import DpopProofs
from mcp_authz.authorization_server.flow.token.grants.authorization_code import single_resource
from mcp_authz.authorization_server.flow.token.grants.context import Admit, GrantContext
from mcp_authz.authorization_server.journeys.entities import Step
from mcp_authz.authorization_server.mcp_servers.entities import McpServer, TrustedIdentityProvider
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.safe_fetch import Busy, FetchFailed, SafeFetcher
from mcp_authz.authorization_server.secrets_at_rest import digest
from mcp_authz.authorization_server.tokens.entities import Grant
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.shared.dpop import Proof
from mcp_authz.shared.resource import same_resource
from mcp_authz.shared.scopes import format_scope, parse_scope
from mcp_authz.shared.token_response import TokenResponse

MAX_ASSERTION_BYTES = 16_384
MAX_JWKS_BYTES = 65_536
_REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]


@dataclass(frozen=True)
class IdentityAssertion:
    """An ID-JAG whose signature and claims were checked; its ``jti`` is not yet spent."""

    idp: TrustedIdentityProvider
    server: McpServer
    subject: str
    client_id: str
    jti: str
    expires_at: datetime
    #: The scopes the IdP granted; ``None`` when the assertion names none.
    scope: tuple[str, ...] | None


class JwtBearerGrant:
    """RFC 7523 §2.1 at the token endpoint: checks outside the unit of work (keys may be fetched), spends inside."""

    def __init__(
        self,
        db: Database,
        directory: ClientDirectory,
        context: GrantContext,
        mcp_servers: McpServerService,
        fetcher: SafeFetcher,
    ) -> None:
        self._db = db
        self._directory = directory
        self._context = context
        self._mcp_servers = mcp_servers
        self._fetcher = fetcher

    async def exchange(
        self, issuer: Issuer, credentials: ClientCredentials, params: Params, admit: Admit, proof: Proof | None = None
    ) -> TokenResponse:
        """``proof``: the request's DPoP proof, already checked (RFC 9449 §4.3), or ``None``."""
        identified = await self._directory.identify(issuer, credentials)
        assertion = await self.verify(issuer, params.require("assertion"), single_resource(params))

        async def unit(tx: Transaction) -> TokenResponse | OAuthError:
            client = await self._directory.authenticate(tx, issuer, credentials, identified)
            await admit(tx, client.client_id, proven=not client.is_public)
            if client.is_public:
                raise UnauthorizedClient("the jwt-bearer grant with an ID-JAG is for confidential clients only")
            if client.client_id != assertion.client_id:
                raise InvalidGrant("the assertion's client_id is not the authenticated client")
            if client.client_id not in assertion.idp.client_ids:
                raise UnauthorizedClient("this client may not present this identity provider's assertions here")
            scope = _granted_scope(params.get("scope"), assertion)
            jkt = await DpopProofs.bind(tx, self._context.tokens, proof, required=client.dpop_bound)
            if not await self._mcp_servers.spend_identity_assertion(
                tx, assertion.idp.issuer, digest(assertion.jti), assertion.expires_at, timedelta(seconds=LEEWAY)
            ):
                raise InvalidGrant("this assertion was already used (its jti is single-use, RFC 7523 section 3)")
            journey_id = await self._context.journeys.assertion_granted(
                tx,
                Step.IDENTITY_ASSERTION_GRANTED,
                issuer=issuer.url,
                client_id=client.client_id,
                mcp_server_id=assertion.server.id,
                detail=f"IdP {assertion.idp.issuer}, subject {assertion.subject},"
                f" scope {format_scope(scope)!r} for {assertion.server.resource}",
            )
            grant = Grant(
                journey_id=journey_id,
                issuer=issuer.url,
                client_id=client.client_id,
                subject=assertion.subject,
                scope=scope,
                resource=assertion.server.resource,
                jkt=jkt,
            )
            response = await self._context.tokens.issue(tx, grant, with_refresh_token=False)
            await self._directory.used(tx, client)
            return response

        outcome = await self._db.run(unit)
        if isinstance(outcome, OAuthError):
            raise outcome
        return outcome

    async def verify(self, issuer: Issuer, assertion: str, resource: str | None) -> IdentityAssertion:
        """Check the ID-JAG's header, issuer, signature and claims (draft §5.1; RFC 7523 §3)."""
        header, unverified = read_assertion(assertion)
        if header.get("typ") != ID_JAG_TYP:
            raise InvalidGrant(f"the assertion's typ must be {ID_JAG_TYP} (an ID-JAG)")
        alg = header["alg"]
        server = await self._server(issuer, unverified.get("resource"), resource)
        idps = await self._db.run(lambda tx: self._mcp_servers.trusted_identity_providers(tx, server.id))
        idp = next((idp for idp in idps if idp.issuer == unverified.get("iss")), None)
        if idp is None:
            raise InvalidGrant(f"the assertion's iss is not an identity provider trusted for {server.resource}")
        claims = decode_assertion(
            assertion,
            await self._keys(idp),
            alg,
            header.get("kid"),
            audiences=[issuer.url],
            iss=idp.issuer,
            required=_REQUIRED,
            whose="the identity provider",
        )
        if claims["iat"] > clock.now().timestamp() + LEEWAY:
            raise InvalidGrant("the assertion's iat is in the future")
        for name in ("sub", "jti", "client_id"):
            if not isinstance(claims[name], str) or not 0 < len(claims[name]) <= 256:
                raise InvalidGrant(f"the assertion's {name} must be a string of 1 to 256 characters")
        granted = claims.get("scope")
        if granted is not None and not isinstance(granted, str):
            raise InvalidGrant("the assertion's scope must be a space-separated string")
        return IdentityAssertion(
            idp=idp,
            server=server,
            subject=claims["sub"],
            client_id=claims["client_id"],
            jti=claims["jti"],
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            scope=_scopes(granted) if granted is not None else None,
        )

    async def _server(self, issuer: Issuer, claimed: object, requested: str | None) -> McpServer:
        """The MCP server the ID-JAG's ``resource`` claim names, which must be this issuer's (draft §5.1)."""
        if not isinstance(claimed, str):
            raise InvalidGrant("the assertion must name the MCP server in its resource claim")
        if requested is not None and not same_resource(requested, claimed):
            raise InvalidTarget("the resource parameter must be the assertion's resource")
        try:
            return await self._context.issuers.audience(issuer, claimed)
        except InvalidTarget as refused:
            raise InvalidGrant(f"the assertion's resource is not an MCP server of this issuer: {refused}") from None

    async def _keys(self, idp: TrustedIdentityProvider) -> dict[str, Any]:
        if idp.jwks is not None:
            return idp.jwks
        assert idp.jwks_uri is not None  # one of the two is set (mcp_servers/service.py)
        try:
            return await fetch_jwks(self._fetcher, idp.jwks_uri, whose="the identity provider")
        except FetchFailed as failure:
            raise InvalidGrant(f"the identity provider's jwks_uri cannot be fetched: {failure}") from None


def read_assertion(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the unverified claims of a JWT assertion signed with an asymmetric algorithm (RFC 7523 §3
    item 9): ``none`` and HMAC are refused, as the issuer's public keys could not check them."""
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise InvalidGrant("the assertion is too large")
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidGrant("the assertion is not a JWT") from None
    if header.get("alg") not in SIGNING_ALGS:
        raise InvalidGrant(f"the assertion must be signed with one of {', '.join(SIGNING_ALGS)}")
    return header, unverified


async def fetch_jwks(fetcher: SafeFetcher, url: str, *, whose: str, fresh: bool = False) -> dict[str, Any]:
    """An assertion issuer's JWK Set at ``url``, through the SSRF-safe fetcher and its cache (``fresh``: not from
    the cache). Raises :class:`FetchFailed`; a JWK Set that is not usable, or a busy fetcher, is an OAuth error."""

    def parse(body: object) -> dict[str, Any]:
        try:
            return parse_jwks(body)
        except ValueError as exc:
            raise InvalidGrant(f"{whose}'s jwks_uri does not hold a usable JWK Set: {exc}") from None

    try:
        return await fetcher.get_json("jwks", url, max_bytes=MAX_JWKS_BYTES, parse=parse, fresh=fresh)
    except Busy as busy:
        raise TemporarilyUnavailable(str(busy)) from None


def fitting_keys(jwks: dict[str, Any], alg: str, kid: object) -> list[dict[str, Any]]:
    """The keys of ``jwks`` that can check a signature of ``alg`` with header ``kid``."""
    return [jwk for jwk in jwks.get("keys", ()) if fits(jwk, alg, kid)]


def decode_assertion(
    assertion: str,
    jwks: dict[str, Any],
    alg: str,
    kid: object,
    *,
    audiences: list[str],
    iss: str,
    required: list[str],
    whose: str,
) -> dict[str, Any]:
    """The claims of ``assertion`` once its signature verifies with ``jwks`` and its ``aud``, ``iss``, ``exp``
    and ``nbf`` pass (RFC 7523 §3 items 1-5 and 9, with the clock leeway); anything else is ``invalid_grant``."""
    keys = fitting_keys(jwks, alg, kid)
    if not keys:
        raise InvalidGrant(f"no key of {whose} fits the assertion's alg and kid")
    try:
        claims = decode_signed(
            assertion, keys, alg, audience=audiences, issuer=iss, leeway=LEEWAY, options={"require": required}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidGrant("the assertion has expired") from None
    except jwt.InvalidAudienceError:
        raise InvalidGrant("the assertion's aud must be this issuer") from None
    except jwt.ImmatureSignatureError:
        raise InvalidGrant("the assertion is not valid yet (nbf or iat in the future)") from None
    except jwt.MissingRequiredClaimError as missing:
        raise InvalidGrant(f"the assertion has no {missing.claim} claim") from None
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidGrant(f"the assertion is not valid: {type(exc).__name__}") from None
    if claims is None:
        raise InvalidGrant(f"the assertion's signature does not verify with {whose}'s keys")
    return claims


def _scopes(value: str) -> tuple[str, ...]:
    try:
        return parse_scope(value)
    except ValueError:
        raise InvalidGrant("the assertion's scope is not a valid scope string") from None


def _granted_scope(requested: str | None, assertion: IdentityAssertion) -> tuple[str, ...]:
    """What the client asks, within what the IdP granted, within the MCP server's scopes (RFC 6749 §3.3)."""
    granted = assertion.scope if assertion.scope is not None else assertion.server.default_scopes
    offered = tuple(scope for scope in granted if scope in assertion.server.scopes)
    return narrowed_scope(requested, offered, f"the assertion grants only {format_scope(offered)!r} here")


def narrowed_scope(requested: str | None, offered: tuple[str, ...], refusal: str) -> tuple[str, ...]:
    """What is asked within ``offered``, or all of it when nothing is asked (RFC 6749 §3.3); nothing left is
    ``invalid_scope`` saying ``refusal``."""
    if requested is None:
        scope = offered
    else:
        try:
            asked = parse_scope(requested)
        except ValueError as exc:
            raise InvalidScope(str(exc)) from None
        scope = tuple(scope for scope in offered if scope in asked)
    if not scope:
        raise InvalidScope(refusal)
    return scope
