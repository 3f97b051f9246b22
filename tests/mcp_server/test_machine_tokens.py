"""Tools that act for a person refuse a machine client's token (issue 11 item 1, docs/decisions/0018).

The issuer marks a client_credentials token with ``"machine": true`` and ``sub`` = ``client_id``
(RFC 9068 §2.2); ``mcp_server/tools.py`` declares in ``USER_TOOLS`` which tools need a user, and
those answer such a token with a tool error that says why (no scope would help, so no 403).
"""

import asyncio
from typing import Any

import pytest
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError

from mcp_authz.mcp_server.token_verifier import is_machine
from mcp_authz.mcp_server.tools import USER_TOOLS, build_tools


def call(tool: str, arguments: dict[str, Any], *, machine: bool, user_tools: frozenset[str] = USER_TOOLS) -> Any:
    """Call ``tool`` as the holder of a user's token, or of a machine client's token."""
    subject = "machine-client" if machine else "usr_alice"
    token = AccessToken(
        token="opaque",
        client_id="machine-client",
        scopes=["mcp:read", "mcp:write"],
        expires_at=None,
        subject=subject,
        claims={"iss": "http://localhost:9000/mcp/demo", "machine": machine},
    )

    async def run() -> Any:
        reset = auth_context_var.set(AuthenticatedUser(token))
        try:
            return await build_tools("test", user_tools=user_tools).call_tool(tool, arguments)
        finally:
            auth_context_var.reset(reset)

    return asyncio.run(run())


def text_of(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


def test_a_tool_for_users_refuses_a_machine_token_and_says_why():
    """Issue 11 item 1, OAuth 2.1 §4.2: add_note is declared for users; a machine token gets a tool error."""
    assert "add_note" in USER_TOOLS

    with pytest.raises(ToolError, match="acts for a user: a machine client's token"):
        call("add_note", {"text": "hello"}, machine=True)


def test_a_user_s_token_still_calls_it():
    """Issue 11 item 1: the same tool works for a user's token."""
    assert "note 1 saved" in text_of(call("add_note", {"text": "hello"}, machine=False))


def test_other_tools_serve_machines_and_whoami_says_machine():
    """Issue 11 item 1: tools not declared for users answer a machine token; whoami shows the marker."""
    assert '"machine": true' in text_of(call("whoami", {}, machine=True))
    assert call("list_notes", {}, machine=True).is_error is False


def test_the_declaration_is_per_tool():
    """Issue 11 item 1: a server that declares no tool for users lets a machine token add a note."""
    assert "note 1 saved" in text_of(call("add_note", {"text": "hi"}, machine=True, user_tools=frozenset()))


@pytest.mark.parametrize(
    ("claims", "machine"),
    [
        ({"sub": "c1", "client_id": "c1", "machine": True}, True),
        ({"sub": "usr_1", "client_id": "c1", "machine": True}, False),  # a person's token is never a machine's
        ({"sub": "c1", "client_id": "c1", "machine": "true"}, False),  # the boolean true only
        ({"sub": "c1", "client_id": "c1"}, False),
    ],
)
def test_the_marker_needs_machine_true_and_sub_equal_to_client_id(claims: dict[str, Any], machine: bool):
    """Issue 11 item 1, RFC 9068 §2.2: a machine token is "machine": true with sub = client_id."""
    assert is_machine(claims) is machine
