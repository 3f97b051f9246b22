"""The ``downstream_profile`` tool's way to a downstream API (issue 4, checklist RS-16).

This server never forwards the token its client sent it (MCP security best practices, token
passthrough). To call the downstream API for the user, it exchanges that token at its
authorization server (RFC 8693) for the user's token at the API's provider, authenticating with
its own credentials (``client_secret_basic``), and calls the API with the token it got back.
Neither token is logged.
"""

import logging
from typing import Any

import httpx2

from mcp_authz.mcp_server.settings import Settings
from mcp_authz.mcp_server.token_verifier import JwtVerifier

log = logging.getLogger("mcp_server")

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
TIMEOUT = 10.0


class DownstreamError(Exception):
    """The downstream token or the API's answer could not be had; the message says why, without tokens."""


class DownstreamApi:
    def __init__(self, settings: Settings, issuer: JwtVerifier) -> None:
        assert settings.downstream_api and settings.client_id and settings.client_secret
        self._url = settings.downstream_api
        self._connection = settings.downstream_connection
        self._credentials = (settings.client_id, settings.client_secret)
        self._issuer = issuer

    async def get(self, subject_token: str) -> dict[str, Any]:
        """The API's answer for the user of ``subject_token``, fetched with the user's own downstream token."""
        token = await self._exchange(subject_token)
        try:
            async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.get(self._url, headers={"Authorization": f"Bearer {token}"})
            response.raise_for_status()
            answer = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise DownstreamError(f"the downstream API did not answer usably: {exc}") from None
        if not isinstance(answer, dict):
            raise DownstreamError("the downstream API did not answer with a JSON object")
        return answer

    async def _exchange(self, subject_token: str) -> str:
        """RFC 8693 §2.1: the client's access token for the user's token at the connection's provider."""
        endpoint = (await self._issuer.metadata()).token_endpoint
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": self._connection,
        }
        try:
            async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.post(endpoint, data=form, auth=self._credentials)
            answer = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise DownstreamError(f"the token exchange at {endpoint} failed: {exc}") from None
        if response.status_code != 200 or not isinstance(answer.get("access_token"), str):
            reason = f"{answer.get('error')}: {answer.get('error_description')}" if isinstance(answer, dict) else ""
            raise DownstreamError(f"the token exchange was refused ({response.status_code} {reason})")
        if answer.get("issued_token_type") != ACCESS_TOKEN_TYPE:
            raise DownstreamError("the token exchange did not issue an access token (RFC 8693 §2.2.1)")
        return str(answer["access_token"])
