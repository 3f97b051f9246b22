"""What the console's pages share: a service's ``ValueError`` as the page's ``NotFound`` or ``InvalidRequest``
(one place each), a JWK Set pasted into a form, an MCP server by its id.
"""

import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from mcp_authz.authorization_server.clients.assertions import parse_jwks
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.mcp_servers.entities import McpServer
from mcp_authz.authorization_server.mcp_servers.service import McpServerService

T = TypeVar("T")


async def or_not_found(action: Awaitable[T]) -> T:
    """Run an action on something named; the ``ValueError`` of a name that does not exist is ``NotFound``."""
    try:
        return await action
    except ValueError as error:
        raise NotFound(str(error)) from None


async def or_invalid(action: Awaitable[T]) -> T:
    """Run an action on the operator's input; the ``ValueError`` that says what is wrong is ``InvalidRequest``."""
    try:
        return await action
    except ValueError as error:
        raise InvalidRequest(str(error)) from None


def form_jwks(text: str) -> dict[str, Any] | None:
    """A JWK Set pasted into a form (``--jwks-file``'s content), checked: public signing keys only (RFC 7517 §5);
    ``None`` if the field is empty. ``ValueError`` says what is wrong."""
    if not text.strip():
        return None
    try:
        return parse_jwks(json.loads(text))
    except ValueError as error:
        raise ValueError(f"the JWK Set: {error}") from None


async def find_mcp_server(mcp_servers: McpServerService, tx: Transaction, server_id: str) -> McpServer:
    """The MCP server ``server_id`` names; ``NotFound`` if there is none."""
    server = await mcp_servers.get(tx, server_id)
    if server is None:
        raise NotFound(f"no MCP server with id {server_id!r}")
    return server
