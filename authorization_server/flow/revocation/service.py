"""Token revocation (RFC 7009): a client ends a grant by revoking one of its tokens.

RFC 7009 §2.1: the client authenticates as at the token endpoint, and the token must be its
own. §2.2: the answer is 200 whether or not there was anything to revoke, so a client cannot
probe for other clients' tokens. Revoking a refresh token revokes its whole family and ends the
journey (§2: "SHOULD also invalidate all access tokens based on the same authorization grant");
revoking an access token does the same, since a JWT cannot be revoked alone
(docs/decisions/0010-revocation-and-introspection.md).
"""

from mcp_authz.authorization_server.clients.entities import ClientCredentials
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import UnsupportedTokenType
from mcp_authz.authorization_server.flow.authorization.client_directory import ClientDirectory
from mcp_authz.authorization_server.flow.discovery.issuers import Issuer
from mcp_authz.authorization_server.journeys.entities import Step
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.tokens.service import TokenService

#: RFC 7009 §2.1, §4.1.2: the token type hints this server understands.
TOKEN_TYPE_HINTS = ("access_token", "refresh_token")


class RevocationService:
    def __init__(
        self, db: Database, directory: ClientDirectory, journeys: JourneyService, tokens: TokenService
    ) -> None:
        self._db = db
        self._directory = directory
        self._journeys = journeys
        self._tokens = tokens

    async def revoke(self, issuer: Issuer, credentials: ClientCredentials, token: str, hint: str | None) -> None:
        """Revoke the grant ``token`` belongs to, if it is the authenticated client's; else do nothing.

        Both kinds of token are looked up whatever the hint says (§2.1: the hint only helps the
        search), but an unknown hint is ``unsupported_token_type`` (§2.2.1).
        """
        if hint is not None and hint not in TOKEN_TYPE_HINTS:
            raise UnsupportedTokenType(f"token_type_hint must be one of {', '.join(TOKEN_TYPE_HINTS)}")
        identified = await self._directory.identify(issuer, credentials)

        async def unit(tx: Transaction) -> None:
            client = await self._directory.authenticate(tx, issuer, credentials, identified)
            grant_id = await self._tokens.grant_of(tx, token, issuer=issuer.url, client_id=client.client_id)
            if grant_id is None or not await self._journeys.is_active(tx, grant_id):
                return
            await self.end_grant(tx, grant_id, "the client revoked its token (RFC 7009)")

        await self._db.run(unit)

    async def end_client_grants(self, tx: Transaction, client_id: str, reason: str) -> int:
        """End every grant ``client_id`` holds, whoever granted it: its deletion (RFC 7592 §2.3) or blocking.

        Returns how many grants were ended.
        """
        grant_ids = await self._journeys.granted_to_client(tx, client_id)
        for grant_id in grant_ids:
            await self.end_grant(tx, grant_id, reason)
        return len(grant_ids)

    async def end_grant(self, tx: Transaction, grant_id: str, reason: str) -> None:
        """Revoke every refresh token of a grant and end its journey, stamping ``reason``."""
        await self._tokens.revoke_family(tx, grant_id)
        await self._journeys.revoke(tx, grant_id, Step.REVOKED, reason)
