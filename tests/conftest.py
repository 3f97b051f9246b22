"""Fixtures: real servers on loopback ports, each with its own SQLite file, and real Chromium."""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from scripts.postgres import throwaway_cluster
from scripts.stack import (
    CHROMIUM,
    CHROMIUM_ARGS,
    AuthorizationServer,
    McpServer,
    free_port,
    start_authorization_server,
    start_mcp_server,
)
from tests.documents import DocumentServer
from tests.postgresql import Databases

#: Every test runs from one address, 127.0.0.1, playing hundreds of clients and users: the
#: servers the tests start lift the per-address rate limits through the environment. Tests of
#: the limits themselves set small ones with options, which win over the environment.
ONE_ADDRESS_MANY_CLIENTS = {
    "AS_RATE_LIMIT_AUTHORIZE": "100000/min",
    "AS_RATE_LIMIT_REGISTER": "100000/min",
    "AS_RATE_LIMIT_TOKEN_IP": "100000/min",
    "AS_RATE_LIMIT_LOGIN_IP": "100000/min",
    "AS_RATE_LIMIT_FETCH": "100000/min",
    "AS_RATE_LIMIT_REVOKE": "100000/min",
    "AS_RATE_LIMIT_INTROSPECT_FAILURES": "100000/min",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--real-processes",
        action="store_true",
        help="start every fresh_as as its own process, as before the in-process harness (docs/testing.md)",
    )
    parser.addoption(
        "--engine",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the database of demo_as and fresh_as: a SQLite file, or a PostgreSQL database of its own in a"
        " throwaway cluster (or on TEST_DATABASE_URL) (issue 13, docs/testing.md)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.sqlite_only("why")``: skipped on ``--engine postgresql``, saying why."""
    if config.getoption("engine") != "postgresql":
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {marker.args[0]}"))


@pytest.fixture(scope="session")
def databases(request: pytest.FixtureRequest) -> Iterator[Databases | None]:
    """PostgreSQL databases for the servers on ``--engine postgresql``; None on SQLite."""
    if request.config.getoption("engine") != "postgresql":
        yield None
        return
    given = os.environ.get("TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        url = given or stack.enter_context(throwaway_cluster()).url
        made = Databases(url)
        yield made
        made.close()


@pytest.fixture(scope="session", autouse=True)
def _one_address_many_clients() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ONE_ADDRESS_MANY_CLIENTS.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def documents() -> Iterator[DocumentServer]:
    """A loopback server for client ID metadata documents and JWK Sets (tests/documents.py)."""
    server = DocumentServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def mcp_port() -> int:
    """The port the demo MCP server of the session's stack listens on."""
    return free_port()


@pytest.fixture(scope="session")
def demo_as(
    tmp_path_factory: pytest.TempPathFactory, mcp_port: int, databases: Databases | None
) -> Iterator[AuthorizationServer]:
    """One authorization server in demo mode, shared by the tests that only read or add to it."""
    database = databases.new() if databases else None
    server = start_authorization_server(tmp_path_factory.mktemp("demo_as"), mcp_port=mcp_port, database=database)
    yield server
    server.program.stop()
    if databases and database:
        databases.drop(database)


@pytest.fixture
def fresh_as(
    tmp_path: Path, request: pytest.FixtureRequest, databases: Databases | None
) -> Iterator[AuthorizationServer]:
    """An authorization server without demo mode and with an empty database, for this test alone.

    A test marked ``@pytest.mark.as_options("--rate-limit-login", "2/min", ...)`` starts it with those options.
    It is served on a thread of the test process (scripts/stack.py, InProcessProgram), its command line run
    in-process too; a test marked ``@pytest.mark.real_process`` gets ``python -m authorization_server``.
    """
    marker = request.node.get_closest_marker("as_options")
    in_process = request.node.get_closest_marker("real_process") is None and not request.config.getoption(
        "real_processes"
    )
    database = databases.new() if databases else None
    options = marker.args if marker else ()
    server = start_authorization_server(tmp_path, *options, demo=False, in_process=in_process, database=database)
    yield server
    server.program.stop()
    if databases and database:
        databases.drop(database)


def new_mcp_server_secret(server: AuthorizationServer, mcp_server_id: str) -> str:
    """Set an MCP server's introspection secret with ``mcp-servers credentials ID``; the printed secret."""
    printed = server.cli("mcp-servers", "credentials", mcp_server_id).stdout
    [secret] = [line.split()[1] for line in printed.splitlines() if line.split()[:1] == ["client_secret"]]
    return secret


@pytest.fixture(scope="session")
def demo_secret(demo_as: AuthorizationServer) -> str:
    """The demo MCP server's introspection secret (RFC 7662 §2.1), set once for the session."""
    return new_mcp_server_secret(demo_as, "demo")


@pytest.fixture(scope="session")
def demo_mcp(
    tmp_path_factory: pytest.TempPathFactory, demo_as: AuthorizationServer, mcp_port: int
) -> Iterator[McpServer]:
    """The reference MCP server in front of ``demo_as``: the demo stack."""
    server = start_mcp_server(tmp_path_factory.mktemp("demo_mcp"), mcp_port, demo_as.issuer_for("demo"))
    yield server
    server.program.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, driven by Playwright, for one test module.

    Playwright's sync API runs an event loop of its own while it is open; it must be closed
    before the asynchronous tests of other modules run theirs.
    """
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile (no cookies) and one tab."""
    context = browser.new_context()
    yield context.new_page()
    context.close()
