"""The JWT bearer grant (RFC 7523 §2.1) with a workload's own JWT: workload identity federation::

     +----------+                                   +---------------------------------+
     |          |>-(1) grant_type=jwt-bearer,  ---->| this issuer                     |
     | Workload |      assertion=<its platform's    |  (2) iss trusted? its keys      |---> jwks_uri, or OpenID
     |          |      JWT>, resource, [scope]      |      (OIDC Discovery §4)        |     Connect Discovery
     |          |<-(3) access token, aud = the -----<|  rules: which MCP server, scope |
     +----------+      MCP server, no refresh token +---------------------------------+

MCP SEP-1933 (a draft; docs/decisions/0051). A CI job, a pod, a function already holds a JWT from
its platform (GitHub Actions, Kubernetes, a cloud's metadata service, SPIFFE). The operator trusts
that platform's issuer (``workload-issuers add``) with rules deciding, by the JWT's claims, which MCP
servers and scopes a workload gets. There is no client registration and no client secret: on its
first grant the workload is recorded as a client of kind workload, whose ``client_id`` is derived
from this issuer, the JWT's ``iss`` and ``sub`` (``clients/service.py``), so that its journeys and the
console name it. Checked, in order (RFC 7523 §3, each ``invalid_grant`` per §3.1):

- a JWT signed with an asymmetric algorithm, never ``none`` or HMAC (§3 item 9);
- its ``iss`` is a trusted workload issuer (§3 item 1); the signature verifies with that issuer's keys,
  read again once when its ``kid`` is not among them (a key rotation; item 9);
- ``aud`` is this issuer, its token endpoint, or an audience the operator named (item 3); ``exp``
  present and not passed (item 4), ``nbf`` and ``iat`` not in the future (items 5, 6), with the
  clock leeway; ``sub`` present (item 2);
- the request's ``resource`` (RFC 8707) is an MCP server of this issuer (``invalid_target``), and a
  rule whose claims all hold names it; none is ``invalid_grant``;
- the scope is what is asked within what the matching rules give, within the MCP server's scopes
  (RFC 6749 §3.3); nothing left is ``invalid_scope``;
- a ``jti``, when present, was not used before (item 7; remembered until ``exp`` plus the leeway, in
  the same table as the ID-JAGs', spent in the unit that issues the token).

A DPoP proof, when sent, was checked as for every grant (RFC 9449 §5, ``flow/token/dpop.py``): its ``jti`` is
spent in the same unit and the access token is bound to its key (``cnf.jkt``, ``token_type`` DPoP). A workload
has no registration to say ``dpop_bound_access_tokens``: sending a proof is how it opts in.

A ``client_id`` the workload sends is not authentication (SEP-1933 has none; RFC 7523 §3.1 makes it
optional): it is ignored, unless it names another client of this server, which is ``invalid_grant``.
A secret or ``client_assertion`` is ``invalid_request``: a workload proves itself by its JWT only.
The access token's ``sub`` is the JWT's ``sub``, its ``client_id`` the workload's, ``machine`` true;
no refresh token (the workload presents its then-current JWT again). The assertion is never logged.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.clients.assertions import LEEWAY
from mcp_authz.authorization_server.clients.entities import ClientCredentials
from mcp_authz.authorization_server.clients.service import workload_client_id
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import (
    InvalidGrant,
    InvalidRequest,
    TemporarilyUnavailable,
    UnauthorizedClient,
)
from mcp_authz.authorization_server.flow.authorization.openid import MAX_DOCUMENT_BYTES, configuration_url
from mcp_authz.authorization_server.flow.discovery.issuers import Issuer
from mcp_authz.authorization_server.flow.token.dpop import DpopProofs
from mcp_authz.authorization_server.flow.token.grants.authorization_code import single_resource
from mcp_authz.authorization_server.flow.token.grants.context import Admit, GrantContext
from mcp_authz.authorization_server.flow.token.grants.jwt_bearer import (
    decode_assertion,
    fetch_jwks,
    fitting_keys,
    narrowed_scope,
    read_assertion,
)
from mcp_authz.authorization_server.journeys.entities import Step
from mcp_authz.authorization_server.mcp_servers.entities import McpServer
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.routes import TOKEN_PATH
from mcp_authz.authorization_server.safe_fetch import Busy, FetchFailed, SafeFetcher
from mcp_authz.authorization_server.secrets_at_rest import digest
from mcp_authz.authorization_server.tokens.entities import Grant
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.authorization_server.workload_issuers.entities import WorkloadIssuer
from mcp_authz.authorization_server.workload_issuers.service import WorkloadIssuerService
from mcp_authz.shared.dpop import Proof
from mcp_authz.shared.json_fields import as_object, required_str
from mcp_authz.shared.loopback import is_https_or_loopback_http
from mcp_authz.shared.scopes import format_scope
from mcp_authz.shared.token_response import TokenResponse

_REQUIRED = ["iss", "sub", "aud", "exp"]
MAX_CLAIM_LENGTH = 256
WHOSE = "the workload issuer"


@dataclass(frozen=True)
class WorkloadAssertion:
    """A workload JWT whose signature and claims were checked; its ``jti`` (if any) is not yet spent."""

    trusted: WorkloadIssuer
    subject: str
    jti: str | None
    expires_at: datetime
    claims: dict[str, Any]


class WorkloadGrant:
    """RFC 7523 §2.1 for workloads: checks outside the unit of work (keys may be fetched), records inside."""

    def __init__(
        self,
        db: Database,
        context: GrantContext,
        workload_issuers: WorkloadIssuerService,
        mcp_servers: McpServerService,
        fetcher: SafeFetcher,
    ) -> None:
        self._db = db
        self._context = context
        self._workload_issuers = workload_issuers
        self._mcp_servers = mcp_servers
        self._fetcher = fetcher

    async def exchange(
        self,
        issuer: Issuer,
        credentials: ClientCredentials | None,
        params: Params,
        admit: Admit,
        proof: Proof | None = None,
    ) -> TokenResponse:
        """``proof``: the request's DPoP proof, already checked (RFC 9449 §4.3), or ``None``."""
        assertion = await self.verify(issuer, params.require("assertion"))
        if credentials is not None and credentials.method != "none":
            raise InvalidRequest(
                "a workload proves who it is by its JWT alone (SEP-1933): send no client secret or client_assertion"
            )
        server = await self._context.issuers.audience(issuer, single_resource(params))
        scope = _granted_scope(params.get("scope"), assertion, server)
        trusted = assertion.trusted
        client_id = workload_client_id(issuer.url, trusted.issuer, assertion.subject)

        async def unit(tx: Transaction) -> TokenResponse:
            await admit(tx, client_id, proven=True)
            named = credentials.client_id if credentials is not None else client_id
            if named != client_id and await self._context.clients.get(tx, named) is not None:
                raise InvalidGrant("the client_id names another client of this server, not this workload")
            client = await self._context.clients.workload(
                tx, issuer=issuer.url, issuer_name=trusted.name, iss=trusted.issuer, sub=assertion.subject
            )
            if client.blocked:
                raise UnauthorizedClient("this workload is blocked by the server's operator")
            jkt = await DpopProofs.bind(tx, self._context.tokens, proof, required=client.dpop_bound)
            if assertion.jti is not None and not await self._mcp_servers.spend_identity_assertion(
                tx, trusted.issuer, digest(assertion.jti), assertion.expires_at, timedelta(seconds=LEEWAY)
            ):
                raise InvalidGrant("this assertion was already used (its jti is single-use, RFC 7523 section 3)")
            journey_id = await self._context.journeys.assertion_granted(
                tx,
                Step.WORKLOAD_IDENTITY_GRANTED,
                issuer=issuer.url,
                client_id=client_id,
                mcp_server_id=server.id,
                detail=f"workload issuer {trusted.name} ({trusted.issuer}), subject {assertion.subject},"
                f" scope {format_scope(scope)!r} for {server.resource}",
            )
            grant = Grant(
                journey_id=journey_id,
                issuer=issuer.url,
                client_id=client_id,
                subject=assertion.subject,
                scope=scope,
                resource=server.resource,
                machine=True,
                jkt=jkt,
            )
            response = await self._context.tokens.issue(tx, grant, with_refresh_token=False)
            await self._context.clients.used(tx, client)
            return response

        return await self._db.run(unit)

    async def verify(self, issuer: Issuer, assertion: str) -> WorkloadAssertion:
        """Check the workload JWT's header, issuer, signature and claims (RFC 7523 §3)."""
        header, unverified = read_assertion(assertion)
        iss = unverified.get("iss")
        if not isinstance(iss, str):
            raise InvalidGrant("the assertion has no iss claim")
        trusted = await self._db.run(lambda tx: self._workload_issuers.by_issuer(tx, iss))
        if trusted is None:
            raise InvalidGrant("the assertion's iss is not a trusted workload issuer (nor an ID-JAG's IdP)")
        alg, kid = header["alg"], header.get("kid")
        jwks = await self._keys(trusted, fresh=False)
        if not fitting_keys(jwks, alg, kid) and trusted.jwks is None:  # a rotated key: read the JWK Set once more
            jwks = await self._keys(trusted, fresh=True)
        claims = decode_assertion(
            assertion,
            jwks,
            alg,
            kid,
            audiences=[issuer.url, issuer.url + TOKEN_PATH, *trusted.audiences],
            iss=trusted.issuer,
            required=_REQUIRED,
            whose=WHOSE,
        )
        now = clock.now().timestamp()
        if "iat" in claims and claims["iat"] > now + LEEWAY:
            raise InvalidGrant("the assertion's iat is in the future")
        for name in ("sub", "jti"):
            if name in claims and not (isinstance(claims[name], str) and 0 < len(claims[name]) <= MAX_CLAIM_LENGTH):
                raise InvalidGrant(f"the assertion's {name} must be a string of 1 to {MAX_CLAIM_LENGTH} characters")
        return WorkloadAssertion(
            trusted=trusted,
            subject=claims["sub"],
            jti=claims.get("jti"),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            claims=claims,
        )

    async def _keys(self, trusted: WorkloadIssuer, *, fresh: bool) -> dict[str, Any]:
        """The issuer's JWK Set: given by the operator, at its ``jwks_uri``, or found by OpenID Connect Discovery
        (SEP-1933 steps 2-7; OIDC Discovery §4), each fetched through the SSRF-safe fetcher and cached."""
        if trusted.jwks is not None:
            return trusted.jwks
        url = trusted.jwks_uri
        try:
            if url is None:
                url = await self._fetcher.get_json(
                    "workload-issuer",
                    configuration_url(trusted.issuer),
                    max_bytes=MAX_DOCUMENT_BYTES,
                    parse=lambda body: _discovered_jwks_uri(body, trusted.issuer),
                    fresh=fresh,
                )
            return await fetch_jwks(self._fetcher, url, whose=WHOSE, fresh=fresh)
        except FetchFailed as failure:
            raise InvalidGrant(f"the workload issuer's keys cannot be fetched: {failure}") from None
        except Busy as busy:  # every slot for fetching is taken: try again shortly (503)
            raise TemporarilyUnavailable(str(busy)) from None


def _discovered_jwks_uri(body: object, issuer: str) -> str:
    """The ``jwks_uri`` of an OpenID Provider Configuration (OIDC Discovery §3), whose ``issuer`` must be
    exactly the one asked about (§4.3); an https URL (SEP-1933 step 6)."""
    try:
        document = as_object(body, "OpenID provider configuration")
        if required_str(document, "issuer") != issuer:
            raise ValueError("it names another issuer (OIDC Discovery §4.3)")
        jwks_uri = required_str(document, "jwks_uri")
        if not is_https_or_loopback_http(jwks_uri):
            raise ValueError("its jwks_uri is not https")
    except ValueError as exc:
        raise InvalidGrant(f"the workload issuer's OpenID configuration is not usable: {exc}") from None
    return jwks_uri


def _granted_scope(requested: str | None, assertion: WorkloadAssertion, server: McpServer) -> tuple[str, ...]:
    """What is asked, within what the rules that hold for this workload give at ``server`` (RFC 6749 §3.3)."""
    rules = [
        rule for rule in assertion.trusted.rules if rule.mcp_server_id == server.id and rule.holds(assertion.claims)
    ]
    if not rules:
        raise InvalidGrant(
            f"no rule of the workload issuer {assertion.trusted.name} gives this workload {server.resource}"
        )
    given = {scope for rule in rules for scope in (rule.scopes if rule.scopes is not None else server.default_scopes)}
    allowed = tuple(scope for scope in server.scopes if scope in given)
    return narrowed_scope(requested, allowed, f"this workload may have only {format_scope(allowed)!r} here")
