"""The demo tools, and the scopes each one needs.

``whoami`` shows what the token says about its caller; ``list_notes`` and ``add_note`` keep a
few notes per user, in memory; ``downstream_profile`` (with ``--downstream-api``) calls a
downstream API with the user's token there, never with the client's (``downstream.py``).
``add_note`` needs ``mcp:write`` beyond the basic ``mcp:read``,
so that a client holding only the basic scope meets a 403 ``insufficient_scope`` and can step up.

Some tools act for a person: ``USER_TOOLS`` names them. A machine client's token (the client
credentials grant, marked ``"machine": true`` by the issuer; docs/decisions/0018) calling one
gets a tool error saying so, not a 403: no scope would help, so a step-up would be pointless.
"""

from datetime import UTC, datetime
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from mcp_authz.mcp_server.downstream import DownstreamApi, DownstreamError

#: Scopes a tool needs beyond the server's basic scopes (checked in bearer_auth.py).
TOOL_SCOPES: dict[str, tuple[str, ...]] = {"add_note": ("mcp:write",)}

#: Scope hierarchy: holding the key grants the values too (MCP: servers MUST respect it).
IMPLIED_SCOPES: dict[str, tuple[str, ...]] = {"mcp:write": ("mcp:read",)}

#: Tools that need a user behind the token; a machine client's token gets a tool error (issue 11 item 1).
USER_TOOLS: frozenset[str] = frozenset({"add_note", "downstream_profile"})

MAX_NOTES = 100
MAX_NOTE_LENGTH = 500


def build_tools(
    name: str, downstream: DownstreamApi | None = None, user_tools: frozenset[str] = USER_TOOLS
) -> MCPServer:
    """The tools; those in ``user_tools`` refuse a machine client's token."""
    server: MCPServer = MCPServer(
        name=name,
        instructions="A demo MCP server protected by OAuth 2.1: try whoami, list_notes and add_note.",
    )
    notes: dict[str, list[str]] = {}

    @server.tool()
    def whoami() -> dict[str, object]:
        """Who the access token says is calling: subject, client, scopes, issuer and expiry."""
        token = _token()
        expires = datetime.fromtimestamp(token.expires_at, UTC).isoformat() if token.expires_at else None
        return {
            "subject": token.subject,
            "client_id": token.client_id,
            "scopes": token.scopes,
            "issuer": (token.claims or {}).get("iss"),
            "audience": token.resource,
            "expires_at": expires,
            "machine": bool((token.claims or {}).get("machine")),
        }

    @server.tool()
    def list_notes() -> list[str]:
        """Your notes on this server (kept in memory, per user)."""
        return list(notes.get(_subject("list_notes", user_tools), []))

    @server.tool()
    def add_note(text: str) -> str:
        """Add a note (needs the mcp:write scope)."""
        text = text.strip()
        if not text or len(text) > MAX_NOTE_LENGTH:
            raise ValueError(f"a note has 1 to {MAX_NOTE_LENGTH} characters")
        mine = notes.setdefault(_subject("add_note", user_tools), [])
        if len(mine) >= MAX_NOTES:
            raise ValueError(f"you already have {MAX_NOTES} notes")
        mine.append(text)
        return f"note {len(mine)} saved"

    if downstream is not None:

        @server.tool()
        async def downstream_profile() -> dict[str, Any]:
            """Your profile at the downstream API: fetched with your own token there, got by token exchange."""
            try:
                return await downstream.get(_token("downstream_profile", user_tools).token)
            except DownstreamError as exc:
                raise ValueError(str(exc)) from None

    return server


def _token(tool: str | None = None, user_tools: frozenset[str] = frozenset()) -> AccessToken:
    """The caller's token; for a tool in ``user_tools``, a machine client's token is refused with a tool error."""
    token = get_access_token()
    if token is None:  # bearer_auth.py lets no unauthenticated call reach a tool
        raise RuntimeError("no access token in this request")
    if tool in user_tools and (token.claims or {}).get("machine"):
        raise ToolError(  # a ToolError's message reaches the client; another exception's would not
            f"{tool} acts for a user: a machine client's token (client_credentials, no user behind it) cannot call it"
        )
    return token


def _subject(tool: str, user_tools: frozenset[str]) -> str:
    return _token(tool, user_tools).subject or ""
