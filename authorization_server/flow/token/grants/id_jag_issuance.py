"""This server as the enterprise identity provider: RFC 8693 token exchange that issues an ID-JAG.

SEP-990 step 1 (draft-ietf-oauth-identity-assertion-authz-grant §4): a client that holds a
signed-in user's access token from this server exchanges it for an Identity Assertion JWT
Authorization Grant for another authorization server (the "resource AS"), which that server
then takes at its jwt-bearer grant (``jwt_bearer.py``; two instances of this project show the
whole flow, docs/enterprise-managed-authorization.md). The request::

    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    requested_token_type=urn:ietf:params:oauth:token-type:id-jag
    subject_token=<the user's access token>  subject_token_type=urn:ietf:params:oauth:token-type:access_token
    audience=<the resource AS's issuer>  resource=<the MCP server>  [scope=...]

Checked: the client authenticates and is confidential; the operator allowed it ID-JAGs for that
``audience`` (``clients allow-id-jag``), which also says the client's id there (the ``client_id``
claim); the subject token is this issuer's, unexpired, issued to this same client for a user (not a
machine client), and its grant still stands. Otherwise ``invalid_request`` for a subject token
that does not qualify and ``invalid_target`` for an audience not allowed (RFC 8693 §2.2.2).

The answer (RFC 8693 §2.2.1): the ID-JAG as ``access_token``, ``issued_token_type`` id-jag,
``token_type`` ``N_A``. The ID-JAG (``typ: oauth-id-jag+jwt``) carries ``iss`` (this issuer),
``sub`` (the user), ``aud``, ``client_id``, ``resource``, ``scope`` when asked, ``jti``, ``iat``
and ``exp``, signed with the key this server's JWK Set publishes. The user's journey records it.
"""

import secrets

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.clients.entities import ClientCredentials
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import InvalidRequest, InvalidTarget, OAuthError, UnauthorizedClient
from mcp_authz.authorization_server.flow.authorization.client_directory import ClientDirectory
from mcp_authz.authorization_server.flow.discovery.issuers import (
    ACCESS_TOKEN_TYPE,
    ID_JAG_TOKEN_TYPE,
    ID_JAG_TYP,
    Issuer,
)
from mcp_authz.authorization_server.flow.token.grants.context import Admit, GrantContext
from mcp_authz.authorization_server.journeys.entities import Step
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.shared.resource import canonical_resource
from mcp_authz.shared.scopes import format_scope, parse_scope
from mcp_authz.shared.token_response import TokenResponse

#: Seconds an ID-JAG is valid: long enough to present once, short as the draft recommends.
ID_JAG_TTL = 300


class IdJagIssuance:
    def __init__(self, db: Database, directory: ClientDirectory, context: GrantContext) -> None:
        self._db = db
        self._directory = directory
        self._context = context

    async def exchange(
        self, issuer: Issuer, credentials: ClientCredentials, params: Params, admit: Admit
    ) -> TokenResponse:
        if params.require("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise InvalidRequest(f"subject_token_type must be {ACCESS_TOKEN_TYPE}: this server issues no ID tokens")
        if params.get("actor_token") is not None:
            raise InvalidRequest("delegation with an actor_token is not supported")
        subject_token = params.require("subject_token")
        audience = params.require("audience")
        try:
            resource = canonical_resource(params.require("resource"))
            scope = parse_scope(params.get("scope") or "")
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        identified = await self._directory.identify(issuer, credentials)

        async def unit(tx: Transaction) -> TokenResponse | OAuthError:
            client = await self._directory.authenticate(tx, issuer, credentials, identified)
            await admit(tx, client.client_id, proven=not client.is_public)
            allowed = {a.audience: a for a in await self._context.clients.id_jag_audiences(tx, client.client_id)}
            if client.is_public or audience not in allowed:
                raise InvalidTarget(
                    "this client may not get ID-JAGs for that audience: the operator has not allowed it"
                )
            access_token = await self._context.tokens.read_access_token(tx, subject_token)
            grant = access_token.grant if access_token else None
            if grant is None or grant.issuer != issuer.url:
                raise InvalidRequest("subject_token is not a valid access token of this issuer")
            if grant.client_id != client.client_id or grant.machine:
                raise UnauthorizedClient("subject_token was not issued to this client for a user")
            if not await self._context.journeys.is_active(tx, grant.journey_id):
                raise InvalidRequest("the grant of subject_token is no longer active")
            now = int(clock.timestamp())
            claims: dict[str, object] = {
                "iss": issuer.url,
                "sub": grant.subject,
                "aud": audience,
                "client_id": allowed[audience].audience_client_id,
                "resource": resource,
                "jti": secrets.token_urlsafe(16),
                "iat": now,
                "exp": now + ID_JAG_TTL,
            }
            if scope:
                claims["scope"] = format_scope(scope)
            assertion = await self._context.tokens.sign_identity_assertion(tx, claims, ID_JAG_TYP)
            await self._context.journeys.record(
                tx, grant.journey_id, Step.ID_JAG_ISSUED, f"for {audience}, resource {resource}"
            )
            return TokenResponse(
                access_token=assertion,
                token_type="N_A",
                expires_in=ID_JAG_TTL,
                scope=format_scope(scope) or None,
                issued_token_type=ID_JAG_TOKEN_TYPE,
            )

        outcome = await self._db.run(unit)
        if isinstance(outcome, OAuthError):
            raise outcome
        return outcome
