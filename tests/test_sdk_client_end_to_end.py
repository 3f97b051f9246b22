"""The mcp SDK's own OAuth client, an independent implementation, against our AS and MCP server.

It discovers, registers, authorizes (demo mode approves at once), exchanges the code, calls the
tools, and steps up when a tool needs more scope, with nothing but the spec to go on.
"""

from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from scripts.stack import AuthorizationServer, McpServer

pytestmark = pytest.mark.anyio


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class DemoBrowser:
    """Plays the browser: follows /authorize to the redirect the demo AS answers with at once."""

    def __init__(self) -> None:
        self.authorization_urls: list[str] = []
        self._callback: dict[str, str] = {}

    async def open(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        async with httpx2.AsyncClient() as http:
            response = await http.get(authorization_url)
        assert response.status_code == 303, response.text
        self._callback = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}

    async def callback(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(
            code=self._callback["code"], state=self._callback.get("state"), iss=self._callback.get("iss")
        )


def sdk_provider(server_url: str, browser: DemoBrowser, storage: MemoryStorage) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(
        redirect_uris=["http://127.0.0.1:33418/callback"],
        client_name="mcp SDK OAuthClientProvider",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(server_url, metadata, storage, browser.open, browser.callback)


class TestSdkClient:
    async def test_the_sdk_client_discovers_registers_authorizes_and_calls_a_tool(
        self, demo_as: AuthorizationServer, demo_mcp: McpServer
    ) -> None:
        """MCP authorization flow steps 1-7, done by the SDK: the whoami tool sees the demo user's token."""
        browser, storage = DemoBrowser(), MemoryStorage()
        async with (
            httpx2.AsyncClient(auth=sdk_provider(demo_mcp.url, browser, storage)) as http,
            Client(streamable_http_client(demo_mcp.url, http_client=http)) as client,
        ):
            tools = await client.list_tools()
            whoami = await client.call_tool("whoami", {})
        assert sorted(tool.name for tool in tools.tools) == ["add_note", "list_notes", "whoami"]
        assert whoami.structured_content is not None
        identity = whoami.structured_content
        assert identity["issuer"] == demo_as.issuer_for("demo")
        assert identity["audience"] == demo_mcp.url
        assert identity["scopes"] == ["mcp:read"]
        assert storage.client_info is not None and storage.client_info.client_id == identity["client_id"]
        assert len(browser.authorization_urls) == 1
        query = parse_qs(urlsplit(browser.authorization_urls[0]).query)
        assert query["resource"] == [demo_mcp.url]
        assert query["code_challenge_method"] == ["S256"]

    async def test_the_sdk_client_steps_up_when_a_tool_needs_more_scope(self, demo_mcp: McpServer) -> None:
        """RS-08, MCP Step-Up Authorization: 403 insufficient_scope leads to a second authorization."""
        browser, storage = DemoBrowser(), MemoryStorage()
        async with (
            httpx2.AsyncClient(auth=sdk_provider(demo_mcp.url, browser, storage)) as http,
            Client(streamable_http_client(demo_mcp.url, http_client=http)) as client,
        ):
            added = await client.call_tool("add_note", {"text": "written after step-up"})
            notes = await client.call_tool("list_notes", {})
        assert added.is_error is False
        assert notes.structured_content == {"result": ["written after step-up"]}
        assert len(browser.authorization_urls) == 2
        second = parse_qs(urlsplit(browser.authorization_urls[1]).query)
        # SEP-2207: the SDK adds offline_access, which the issuer lists; the tokens carry the MCP scopes only.
        assert set(second["scope"][0].split()) == {"mcp:read", "mcp:write", "offline_access"}
        assert storage.tokens is not None and set((storage.tokens.scope or "").split()) == {"mcp:read", "mcp:write"}
