"""Fixtures for the authorization server's tests: HTTP clients bound to its issuers, extra MCP
servers and users added with its command line, as an operator would add them."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest

from mcp_authz.authorization_server.db import Database
from scripts.stack import AuthorizationServer, free_port
from tests.authorization_server.flows import Issuer

#: The second MCP server of the shared demo server: another audience, another issuer.
OTHER_SERVER_ID = "other"
OTHER_SERVER_VERSION = "2025-06-18"

#: The MCP server and the user a server without demo mode is given for the browser tests.
NOTES_SERVER_ID = "notes"
ALICE, ALICE_PASSWORD = "alice", "correct horse battery"


def mcp_issuer(
    http: httpx2.Client, server: AuthorizationServer, server_id: str, resource: str, version: str = "latest"
) -> Issuer:
    """The issuer of MCP server ``server_id`` on ``server``, with its MCP-scoped registration endpoint
    (DESIGN.md, "One issuer per MCP server")."""
    register = f"{server.url}/api/v1/authz/clients/register/mcp/{server_id}/{version}"
    return Issuer(http, server.issuer_for(server_id), register, resource=resource)


@pytest.fixture(name="http")
def _http() -> Iterator[httpx2.Client]:
    """A plain HTTP client that shows redirects instead of following them."""
    with httpx2.Client(follow_redirects=False, timeout=10) as client:
        yield client


@pytest.fixture(name="db")
async def _db(tmp_path: Path) -> AsyncIterator[Database]:
    """A database of the test's own (``as.db`` in its temporary folder), migrated, without a server."""
    database = await Database.open(tmp_path / "as.db")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture(name="demo_resource", scope="session")
def _demo_resource(mcp_port: int) -> str:
    """The resource URL of the demo MCP server of ``demo_as``."""
    return f"http://localhost:{mcp_port}/mcp"


@pytest.fixture(name="demo")
def _demo(demo_as: AuthorizationServer, http: httpx2.Client, demo_resource: str) -> Issuer:
    """The demo MCP server's issuer, reached the way every MCP client reaches it."""
    return mcp_issuer(http, demo_as, "demo", demo_resource)


@pytest.fixture(name="root")
def _root(demo_as: AuthorizationServer, http: httpx2.Client) -> Issuer:
    """The root issuer of ``demo_as``, for generic OAuth clients; they name the resource themselves."""
    return Issuer(http, demo_as.url, f"{demo_as.url}/register")


@pytest.fixture(name="fresh_root")
def _fresh_root(fresh_as: AuthorizationServer, http: httpx2.Client) -> Issuer:
    """The root issuer of ``fresh_as``: a server of this test's own, with no MCP server and no user."""
    return Issuer(http, fresh_as.url, f"{fresh_as.url}/register")


@pytest.fixture(name="issuer", params=["root", "demo"])
def _issuer(request: pytest.FixtureRequest) -> Issuer:
    """The root issuer, then the demo MCP server's: for tests that hold at every issuer."""
    return request.getfixturevalue(request.param)


@pytest.fixture(name="other_resource", scope="session")
def _other_resource(demo_as: AuthorizationServer) -> str:
    """A second MCP server on ``demo_as``, added with ``mcp-servers add`` while the server runs."""
    resource = f"http://localhost:{free_port()}/other-mcp"
    demo_as.cli(
        "mcp-servers",
        "add",
        "--id",
        OTHER_SERVER_ID,
        "--resource",
        resource,
        "--scopes",
        "files:read files:write",
        "--name",
        "Other MCP server",
        "--version",
        OTHER_SERVER_VERSION,
    )
    return resource


#: An MCP server of ``demo_as`` named by a bare origin, as a server at the root of its host is (issue 15).
ORIGIN_SERVER_ID = "origin"


@pytest.fixture(name="origin_resource", scope="session")
def _origin_resource(demo_as: AuthorizationServer) -> str:
    """An MCP server on ``demo_as`` whose resource is a bare origin (``http://localhost:PORT``, no path)."""
    resource = f"http://localhost:{free_port()}"
    demo_as.cli("mcp-servers", "add", "--id", ORIGIN_SERVER_ID, "--resource", resource, "--scopes", "root:read")
    return resource


@pytest.fixture(name="origin")
def _origin(demo_as: AuthorizationServer, http: httpx2.Client, origin_resource: str) -> Issuer:
    """The issuer of the bare-origin MCP server."""
    return mcp_issuer(http, demo_as, ORIGIN_SERVER_ID, origin_resource)


@pytest.fixture(name="other")
def _other(demo_as: AuthorizationServer, http: httpx2.Client, other_resource: str) -> Issuer:
    """The second MCP server's issuer."""
    return mcp_issuer(http, demo_as, OTHER_SERVER_ID, other_resource, OTHER_SERVER_VERSION)


#: The command line runs (arguments, input) that give ``notes_as`` its MCP server and its user;
#: tests/authorization_server/prepared.py makes the same database once per module and copies it.
NOTES_RUNS: list[tuple[list[str], str | None]] = [
    (
        ["mcp-servers", "add", "--id", NOTES_SERVER_ID, "--resource", "http://localhost:8111/mcp",
         "--scopes", "notes:read notes:write", "--default-scopes", "notes:read", "--name", "Notes"],
        None,
    ),
    (["users", "add", ALICE], ALICE_PASSWORD + "\n"),
]  # fmt: skip


@pytest.fixture(name="notes_as")
def _notes_as(fresh_as: AuthorizationServer) -> AuthorizationServer:
    """A server without demo mode, with one MCP server and one user, both added with the CLI."""
    for args, given in NOTES_RUNS:
        fresh_as.cli(*args, input=given)
    return fresh_as


@pytest.fixture(name="notes")
def _notes(notes_as: AuthorizationServer, http: httpx2.Client) -> Issuer:
    """The issuer of the ``notes`` MCP server of ``notes_as``."""
    return mcp_issuer(http, notes_as, NOTES_SERVER_ID, "http://localhost:8111/mcp")
