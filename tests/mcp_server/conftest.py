"""A signer of test tokens for the demo stack's MCP server."""

import pytest

from scripts.stack import AuthorizationServer, McpServer
from tests.mcp_server.helpers import Signer


@pytest.fixture(scope="session")
def signer(demo_as: AuthorizationServer, demo_mcp: McpServer) -> Signer:
    return Signer(demo_as, demo_mcp)
