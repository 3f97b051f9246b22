"""Introspection mode (RFC 7662, checklist RS-13): a revoked grant stops working within seconds.

A JWT checked locally stays valid until it expires, whatever happens at the authorization
server. In introspection mode, a token that passed the local check is also sent to the issuer's
``introspection_endpoint`` (from its metadata), authenticated with this MCP server's credentials
(``client_secret_basic``). The answer must be ``active: true`` and name this server's resource
as ``aud`` (§2.2). It is remembered for at most ``MAX_AGE`` seconds, and never past the token's
``exp`` (RS-13), so a revocation takes effect here within ``MAX_AGE`` seconds; the price is one
request to the issuer per token per ``MAX_AGE``. While the issuer cannot answer, tokens are
refused with 503 (fail closed). See docs/decisions/0010-revocation-and-introspection.md.
"""

import hashlib
import logging
import time
from collections import OrderedDict

import httpx2
from mcp.server.auth.provider import AccessToken

from mcp_authz.mcp_server.settings import Settings
from mcp_authz.mcp_server.token_verifier import InvalidToken, IssuerUnavailable, JwtVerifier
from mcp_authz.shared.resource import same_resource

log = logging.getLogger("mcp_server")


class IntrospectingVerifier:
    MAX_AGE = 30.0
    CACHE_SIZE = 10_000

    def __init__(self, settings: Settings, local: JwtVerifier) -> None:
        assert settings.introspection_client_id and settings.introspection_client_secret
        self._local = local
        self._resource = settings.resource
        self._credentials = (settings.introspection_client_id, settings.introspection_client_secret)
        #: Token digest -> (active, until when that answer may be used).
        self._answers: OrderedDict[bytes, tuple[bool, float]] = OrderedDict()

    async def verify(self, token: str) -> AccessToken:
        """The locally verified token, if the issuer also says it is active for this resource."""
        access_token = await self._local.verify(token)
        digest = hashlib.sha256(token.encode()).digest()
        now = time.time()
        answer = self._answers.get(digest)
        if answer is None or answer[1] <= now:
            expires_at = access_token.expires_at or now
            answer = (await self._active(token), min(now + self.MAX_AGE, expires_at))
            self._answers[digest] = answer
            if len(self._answers) > self.CACHE_SIZE:
                self._answers.popitem(last=False)
        if not answer[0]:
            raise InvalidToken("the authorization server says the access token is no longer active")
        return access_token

    async def _active(self, token: str) -> bool:
        endpoint = (await self._local.metadata()).introspection_endpoint
        if not endpoint:
            raise IssuerUnavailable("the issuer's metadata names no introspection_endpoint")
        try:
            async with httpx2.AsyncClient(timeout=10.0) as http:
                response = await http.post(
                    endpoint, data={"token": token, "token_type_hint": "access_token"}, auth=self._credentials
                )
            response.raise_for_status()
            answer = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            log.warning("introspection at %s failed: %s", endpoint, exc)
            raise IssuerUnavailable("the authorization server cannot tell whether the token is active") from None
        audiences = answer.get("aud") if isinstance(answer, dict) else None
        if isinstance(audiences, str):
            audiences = [audiences]
        return (
            isinstance(answer, dict)
            and answer.get("active") is True
            and isinstance(audiences, list)
            and any(isinstance(aud, str) and same_resource(aud, self._resource) for aud in audiences)
        )
