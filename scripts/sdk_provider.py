"""An in-memory provider for the mcp SDK's auth routes (``create_auth_routes``), shared by the
tests' SDK stack (``tests/client/sdk_stack.py``) and the benchmarks' baseline
(``scripts/bench/baseline.py``).

It implements the SDK's ``OAuthAuthorizationServerProvider`` protocol with dictionaries,
approves every authorization request at once as one fixed subject (no page, like our demo mode)
and issues opaque random tokens: no signing, no database.
"""

import secrets
import time

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

CODE_LIFETIME = 60
ACCESS_TOKEN_LIFETIME = 3600


class MemoryProvider(OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]):
    """Clients, codes and tokens in dictionaries; every authorization request approved as ``subject``."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        code = AuthorizationCode(
            code=secrets.token_urlsafe(32),
            scopes=params.scopes or [],
            expires_at=time.time() + CODE_LIFETIME,
            client_id=client.client_id or "",
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject=self.subject,
        )
        self.codes[code.code] = code
        return construct_redirect_uri(str(params.redirect_uri), code=code.code, state=params.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        return self.codes.get(authorization_code)

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        del self.codes[authorization_code.code]
        code = authorization_code
        return self.issue(code.client_id, code.scopes, code.resource, code.subject, refresh=True)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        return self.refresh_tokens.get(refresh_token)

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        del self.refresh_tokens[refresh_token.token]  # rotation: the one used is dead (OAuth 2.1 §4.3.1)
        return self.issue(refresh_token.client_id, scopes, refresh_token.resource, refresh_token.subject, refresh=True)

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access_tokens.get(token)
        return found if found is not None and (found.expires_at or 0) > time.time() else None

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.access_tokens.pop(token.token, None)
        self.refresh_tokens.pop(token.token, None)

    def issue(
        self, client_id: str, scopes: list[str], resource: str | None, subject: str | None, *, refresh: bool
    ) -> OAuthToken:
        """An access token, and with ``refresh`` a refresh token, for one grant."""
        access = secrets.token_urlsafe(32)
        grant = {"client_id": client_id, "scopes": scopes, "resource": resource, "subject": subject}
        self.access_tokens[access] = AccessToken(
            token=access, expires_at=int(time.time()) + ACCESS_TOKEN_LIFETIME, **grant
        )
        refresh_token = secrets.token_urlsafe(32) if refresh else None
        if refresh_token is not None:
            self.refresh_tokens[refresh_token] = RefreshToken(token=refresh_token, **grant)
        return OAuthToken(
            access_token=access,
            expires_in=ACCESS_TOKEN_LIFETIME,
            scope=" ".join(scopes) or None,
            refresh_token=refresh_token,
        )
