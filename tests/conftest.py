"""Fixtures: real servers on loopback ports, each with its own SQLite file."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import (
    AuthorizationServer,
    McpServer,
    free_port,
    start_authorization_server,
    start_mcp_server,
)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def mcp_port() -> int:
    """The port the demo MCP server of the session's stack listens on."""
    return free_port()


@pytest.fixture(scope="session")
def demo_as(tmp_path_factory: pytest.TempPathFactory, mcp_port: int) -> Iterator[AuthorizationServer]:
    """One authorization server in demo mode, shared by the tests that only read or add to it."""
    server = start_authorization_server(tmp_path_factory.mktemp("demo_as"), mcp_port=mcp_port)
    yield server
    server.program.stop()


@pytest.fixture
def fresh_as(tmp_path: Path) -> Iterator[AuthorizationServer]:
    """An authorization server without demo mode and with an empty database, for this test alone."""
    server = start_authorization_server(tmp_path, demo=False)
    yield server
    server.program.stop()


@pytest.fixture(scope="session")
def demo_mcp(
    tmp_path_factory: pytest.TempPathFactory, demo_as: AuthorizationServer, mcp_port: int
) -> Iterator[McpServer]:
    """The reference MCP server in front of ``demo_as``: the demo stack."""
    server = start_mcp_server(tmp_path_factory.mktemp("demo_mcp"), mcp_port, demo_as.issuer_for("demo"))
    yield server
    server.program.stop()
