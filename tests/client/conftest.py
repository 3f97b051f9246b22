"""Fixtures for the client's tests: a stack with a sign-in page, a fake stack, the mcp SDK's servers."""

from collections.abc import Iterator

import pytest

from scripts.stack import AuthorizationServer, McpServer, free_port, start_mcp_server
from tests.client.fake_stack import FakeStack
from tests.client.sdk_stack import SdkStack
from tests.set_up import set_up_then_serve

#: The MCP server and user of the stack without demo mode.
LOGIN_SERVER_ID = "notes"
ALICE, ALICE_PASSWORD = "alice", "correct horse battery staple"


@pytest.fixture(name="login_stack", scope="session")
def _login_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AuthorizationServer, McpServer]]:
    """An authorization server without demo mode (a real sign-in and consent), and its MCP server."""
    workdir = tmp_path_factory.mktemp("login_stack")
    mcp_port = free_port()

    def set_up(server: AuthorizationServer) -> None:
        server.cli(
            "mcp-servers", "add", "--id", LOGIN_SERVER_ID, "--resource", f"http://localhost:{mcp_port}/mcp",
            "--scopes", "mcp:read mcp:write", "--name", "Notes",
        )  # fmt: skip
        server.cli("users", "add", ALICE, input=ALICE_PASSWORD + "\n")

    authorization_server, _ = set_up_then_serve(workdir, set_up, demo=False)
    mcp_server = start_mcp_server(workdir, mcp_port, authorization_server.issuer_for(LOGIN_SERVER_ID))
    yield authorization_server, mcp_server
    mcp_server.program.stop()
    authorization_server.program.stop()


@pytest.fixture(name="fake_stack", scope="session")
def _fake_stack() -> Iterator[FakeStack]:
    stack = FakeStack().start()
    yield stack
    stack.stop()


@pytest.fixture(name="fake")
def _fake(fake_stack: FakeStack) -> FakeStack:
    """The fake stack, answering correctly until a test says otherwise."""
    fake_stack.reset()
    return fake_stack


@pytest.fixture(name="sdk_stack", scope="session")
def _sdk_stack() -> Iterator[SdkStack]:
    """The mcp SDK's own authorization server (create_auth_routes) and MCP server, as they come."""
    stack = SdkStack().start()
    yield stack
    stack.stop()


@pytest.fixture(name="machine_stack", scope="session")
def _machine_stack() -> Iterator[SdkStack]:
    """The SDK's servers, their token endpoint fronted with client_credentials and private_key_jwt."""
    stack = SdkStack(machine=True).start()
    yield stack
    stack.stop()
