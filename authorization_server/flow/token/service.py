"""The token endpoint's work (OAuth 2.1 §3.2): authenticate the client, run its grant, in one transaction.

A DPoP proof (RFC 9449 §5) is checked before the transaction and its ``jti`` spent inside it
(``dpop.py``), for every grant that issues an access token, the jwt-bearer grant's too (ID-JAG and
workload); its key binds the tokens (``jkt``). A client registered with ``dpop_bound_access_tokens``
must send one (§5.2).

Each token response is told to ``issued(grant_type, kind)`` (the metrics): ``kind`` tells apart what shares
a grant type, ``id-jag`` or ``workload`` for the jwt-bearer grant, ``id-jag`` for the token exchange that
issues one, empty otherwise.
"""

from collections.abc import Callable

from mcp_authz.authorization_server.clients.entities import ClientCredentials
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from mcp_authz.authorization_server.flow.authorization.client_directory import ClientDirectory
from mcp_authz.authorization_server.flow.discovery.issuers import (
    ID_JAG_TOKEN_TYPE,
    ID_JAG_TYP,
    JWT_BEARER_GRANT,
    TOKEN_EXCHANGE_GRANT,
    Issuer,
)
from mcp_authz.authorization_server.flow.token.dpop import DpopProofs
from mcp_authz.authorization_server.flow.token.grants import authorization_code, client_credentials, refresh_token
from mcp_authz.authorization_server.flow.token.grants.context import Admit, GrantContext
from mcp_authz.authorization_server.flow.token.grants.id_jag_issuance import IdJagIssuance
from mcp_authz.authorization_server.flow.token.grants.jwt_bearer import JwtBearerGrant, read_assertion
from mcp_authz.authorization_server.flow.token.grants.token_exchange import TokenExchange
from mcp_authz.authorization_server.flow.token.grants.workload import WorkloadGrant
from mcp_authz.authorization_server.routes import TOKEN_PATH
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.shared.dpop import Proof
from mcp_authz.shared.token_response import TokenResponse

#: The grants this server supports; the implicit and password grants do not exist in OAuth 2.1.
GRANTS = {
    "authorization_code": authorization_code.exchange,
    "refresh_token": refresh_token.exchange,
    "client_credentials": client_credentials.exchange,
}
#: The metrics' ``kind`` of a token response (``issued``): what tells apart the uses of one grant type.
ID_JAG = "id-jag"
WORKLOAD = "workload"


class GrantService:
    def __init__(
        self,
        db: Database,
        directory: ClientDirectory,
        context: GrantContext,
        token_exchange: TokenExchange,
        dpop: DpopProofs,
        issued: Callable[[str, str], None] = lambda grant_type, kind: None,
        jwt_bearer: JwtBearerGrant | None = None,
        id_jags: IdJagIssuance | None = None,
        workloads: WorkloadGrant | None = None,
    ) -> None:
        """``issued(grant_type, kind)`` is told of each token response, once committed (the metrics, issue 17)."""
        self._issued = issued
        self._db = db
        self._directory = directory
        self._context = context
        self._token_exchange = token_exchange
        self.dpop = dpop
        self._jwt_bearer = jwt_bearer
        self._id_jags = id_jags
        self._workloads = workloads

    async def exchange(
        self,
        issuer: Issuer,
        credentials: ClientCredentials | None,
        params: Params,
        admit: Admit,
        dpop_headers: list[str] | None = None,
    ) -> TokenResponse:
        """Authenticate the client, ``admit`` it, run its grant. A refusal by ``admit`` writes nothing.

        ``credentials``: ``None`` when the request names no client, which only a workload's jwt-bearer grant
        may do (SEP-1933). ``dpop_headers``: the request's ``DPoP`` header values (RFC 9449 §4.1).
        """
        grant_type = params.get("grant_type")

        def checked_proof() -> Proof | None:
            return self.dpop.check(dpop_headers or [], issuer.url + TOKEN_PATH)

        if grant_type == JWT_BEARER_GRANT and self._workloads is not None and not _is_id_jag(params):
            # a workload's own JWT (SEP-1933); an ID-JAG (typ oauth-id-jag+jwt) keeps to the SEP-990 path
            granted = await self._workloads.exchange(issuer, credentials, params, admit, checked_proof())
            self._issued(grant_type, WORKLOAD)
            return granted
        if credentials is None:
            raise InvalidClient("client_id is required")
        if grant_type is None:
            raise InvalidRequest("grant_type is required")
        if (
            grant_type == TOKEN_EXCHANGE_GRANT
            and params.get("requested_token_type") == ID_JAG_TOKEN_TYPE
            and self._id_jags
        ):
            issued = await self._id_jags.exchange(
                issuer, credentials, params, admit
            )  # this server as the IdP (SEP-990)
            self._issued(grant_type, ID_JAG)
            return issued
        if grant_type == TOKEN_EXCHANGE_GRANT:  # an MCP server, not a client, authenticates (RFC 8693)
            exchanged = await self._token_exchange.exchange(issuer, credentials, params, admit)
            self._issued(grant_type, "")
            return exchanged
        if grant_type == JWT_BEARER_GRANT and self._jwt_bearer is not None:  # an IdP's ID-JAG (RFC 7523 §2.1)
            granted = await self._jwt_bearer.exchange(issuer, credentials, params, admit, checked_proof())
            self._issued(grant_type, ID_JAG)
            return granted
        handler = GRANTS.get(grant_type)
        if handler is None:
            supported = ", ".join((*GRANTS, TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT))
            raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported; use {supported}")
        proof = checked_proof()
        identified = await self._directory.identify(issuer, credentials)

        async def unit(tx: Transaction) -> TokenResponse | OAuthError:
            client = await self._directory.authenticate(tx, issuer, credentials, identified)
            await admit(tx, client.client_id, proven=not client.is_public)

            async def grant(tx: Transaction) -> TokenResponse | OAuthError:
                # client_credentials: the operator's approval decides, not the metadata (docs/decisions/0018)
                if grant_type != "client_credentials" and grant_type not in client.grant_types:
                    raise UnauthorizedClient(f"this client did not register the {grant_type} grant")
                jkt = await DpopProofs.bind(tx, self._context.tokens, proof, required=client.dpop_bound)
                outcome = await handler(self._context, tx, issuer, client, params, jkt)
                if not isinstance(outcome, OAuthError):
                    await self._directory.used(tx, client)  # tokens issued: the client is in use (client_expiry.py)
                return outcome

            try:  # a refused grant undoes its own writes, not the spend of the client's limit (issue 13)
                return await tx.attempt(grant)
            except OAuthError as refused:
                return refused

        outcome = await self._db.run(unit)
        if isinstance(outcome, OAuthError):
            raise outcome
        self._issued(grant_type, "")
        return outcome


def _is_id_jag(params: Params) -> bool:
    """Whether the jwt-bearer grant's assertion is an ID-JAG (its ``typ``, SEP-990); a missing or unreadable
    assertion is refused by the grant that reads it."""
    assertion = params.get("assertion")
    if assertion is None:
        return False
    try:
        header, _ = read_assertion(assertion)
    except OAuthError:
        return False
    return header.get("typ") == ID_JAG_TYP
