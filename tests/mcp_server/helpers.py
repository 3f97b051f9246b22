"""Helpers for the MCP server tests: a token signer, JSON-RPC messages, and requests to the server."""

import secrets
import sqlite3
import time
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from mcp_authz.authorization_server.encryption import Sealer, parse_key
from mcp_authz.authorization_server.tokens.keys import open_pem
from mcp_authz.shared.www_authenticate import find_challenge
from scripts.stack import AuthorizationServer, McpServer


class Signer:
    """Mints access tokens with the authorization server's own signing key, read from its database.

    Only tests do this: it lets each test change exactly one thing about an otherwise valid token.
    """

    def __init__(self, authorization_server: AuthorizationServer, mcp_server: McpServer) -> None:
        with sqlite3.connect(authorization_server.db) as db:
            kid, alg, stored = db.execute("SELECT kid, alg, private_key FROM signing_keys").fetchone()
        self.kid, self.alg = kid, alg
        sealer = Sealer(parse_key(authorization_server.env["AS_KEY_ENCRYPTION_KEY"], "key_encryption_key"))
        self._key = load_pem_private_key(open_pem(sealer, kid, stored), password=None)
        self._issuer = mcp_server.issuer
        self._audience = mcp_server.url

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "sub": "usr_test",
            "aud": self._audience,
            "client_id": "test-client",
            "scope": "mcp:read",
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(8),
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, *, headers: dict[str, Any] | None = None, **changes: Any) -> str:
        header = {"kid": self.kid, "typ": "at+jwt"} | (headers or {})
        return jwt.encode(self.claims(**changes), self._key, algorithm=self.alg, headers=header)


def tool_call(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}


#: A message within an open MCP session.
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
#: The opening message of an MCP session (MCP lifecycle, initialization): answered 200 once the token is good.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "mcp-server-tests", "version": "1"},
    },
}


def post(
    mcp: McpServer, body: object = INITIALIZE, *, token: str | None = None, url: str | None = None
) -> httpx2.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(url or mcp.url, json=body, headers=headers)


def bearer_params(response: httpx2.Response) -> dict[str, str]:
    challenge = find_challenge(response.headers["www-authenticate"], "Bearer")
    assert challenge is not None
    return challenge.params
