"""Tools that act for a person refuse a machine client's token (issue 11 item 1, docs/decisions/0018).

The issuer marks a client_credentials token (``sub`` = ``client_id``) and a workload's token (SEP-1933,
its own ``sub``) with ``"machine": true`` (RFC 9068 §2.2); ``mcp_server/tools.py`` declares in
``USER_TOOLS`` which tools need a user, and those answer such a token with a tool error that says why
(no scope would help, so no 403).
"""

import asyncio
from typing import Any

import httpx2
import pytest
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError

from mcp_authz.mcp_server.token_verifier import is_machine
from mcp_authz.mcp_server.tools import USER_TOOLS, build_tools
from scripts.stack import McpServer
from tests.mcp_server.helpers import Signer, post, tool_call


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
        # a workload's token (SEP-1933, decision 0051): its own sub; it was taken for a person's (issue 11 item 1)
        ({"sub": "repo:acme/deploy:ref:refs/heads/main", "client_id": "wl_1", "machine": True}, True),
        ({"sub": "usr_1", "client_id": "c1"}, False),  # a person's token
        ({"sub": "c1", "client_id": "c1", "machine": "true"}, False),  # the boolean true only
        ({"sub": "c1", "client_id": "c1"}, False),
    ],
)
def test_the_marker_is_machine_true_whatever_the_sub(claims: dict[str, Any], machine: bool):
    """Issue 11 item 1, RFC 9068 §2.2: a machine's token is "machine": true (the boolean), whether its sub is
    its client_id (client_credentials) or a workload's (SEP-1933)."""
    assert is_machine(claims) is machine


def call_over_http(mcp: McpServer, token: str, tool: str, arguments: dict[str, Any]) -> httpx2.Response:
    """Open an MCP session at the running server with ``token`` and call ``tool`` in it."""
    opened = post(mcp, token=token)
    assert opened.status_code == 200, opened.text
    session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "Authorization": f"Bearer {token}"}
    accept = {"Accept": "application/json, text/event-stream"}
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    httpx2.post(mcp.url, json=initialized, headers=accept | session)
    return httpx2.post(mcp.url, json=tool_call(tool, arguments), headers=accept | session)


def test_issue_11_item_1_a_workloads_token_is_refused_by_a_tool_for_users(demo_mcp: McpServer, signer: Signer):
    """Issue 11 item 1 ("the MCP server can refuse them per tool"), decision 0051: a workload's token (SEP-1933)
    says "machine": true with the workload's own sub, not its client_id; add_note refuses it as it refuses a
    client_credentials token, even with mcp:write, where a user's token with the same scope adds the note."""
    workload = signer.token(
        sub="repo:acme/deploy:ref:refs/heads/main", client_id="wl_test", machine=True, scope="mcp:read mcp:write"
    )
    user = signer.token(scope="mcp:read mcp:write")

    refused = call_over_http(demo_mcp, workload, "add_note", {"text": "from a workload"})
    saved = call_over_http(demo_mcp, user, "add_note", {"text": "from a user"})

    assert refused.status_code == 200, refused.text
    assert "add_note acts for a user: a machine client's token" in refused.text
    assert "note" in saved.text and "acts for a user" not in saved.text
