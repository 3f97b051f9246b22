"""How many SQL statements each step of a full flow runs (issue 14: fewer statements per flow).

A full flow is what `make bench` loads: register through the MCP endpoint, authorize (demo mode
signs in and approves), redeem the code, refresh once. Each statement a unit of work sends through
its ``Transaction`` is counted on an in-process server (the savepoints and the group's ``BEGIN`` and
``COMMIT`` are the engine's, not the step's). A budget here is a ceiling: a change that adds a
statement to the hot path must raise it knowingly, in docs/benchmarks.md too.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mcp_authz.authorization_server import db
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import DEMO_FLOW_STEPS, Issuer, journey_of, steps

pytestmark = pytest.mark.sqlite_only("counts the statements of the SQLite engine's transactions")

#: The statements of each step of a full flow (docs/benchmarks.md, "What was optimised").
BUDGET = {"register": 4, "authorize": 11, "token": 7, "refresh": 9}


@pytest.fixture(name="server", scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthorizationServer]:
    server = start_authorization_server(tmp_path_factory.mktemp("statements"), in_process=True)
    yield server
    server.program.stop()


@pytest.fixture(name="statements")
def _statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of every statement the server's units run from now on, in order."""
    sent: list[str] = []
    for name in ("execute", "fetch_one", "fetch_all"):
        method = getattr(db.SqliteTransaction, name)

        def counted(self: db.SqliteTransaction, sql: str, params: Any = (), _method: Any = method) -> Any:
            sent.append(sql)
            return _method(self, sql, params)

        monkeypatch.setattr(db.SqliteTransaction, name, counted)
    return sent


def full_flow(demo: Issuer, statements: list[str]) -> tuple[str, dict[str, int]]:
    """One full flow; its client's id and the statements each step ran."""
    ends = {}
    client = demo.register()
    ends["register"] = len(statements)
    code = demo.code(client)
    ends["authorize"] = len(statements)
    tokens = demo.exchange(client, code).json()
    ends["token"] = len(statements)
    assert demo.refresh(client, tokens["refresh_token"]).status_code == 200
    ends["refresh"] = len(statements)
    starts = [0, *ends.values()]
    return client.client_id, {step: end - start for (step, end), start in zip(ends.items(), starts, strict=False)}


def test_a_full_flow_runs_within_its_statement_budget(server: AuthorizationServer, statements: list[str]):
    """Issue 14: register, authorize, token and refresh each run at most their budget of statements.

    /authorize writes its journey with the request and the user already signed in in one INSERT,
    the request and sign-in steps in one more, the consent and code steps in a third: 11 statements,
    16 before; and the journey still records every step, in order. The first flow fills the caches
    (MCP servers, signing keys); the second is counted.
    """
    with httpx2.Client(timeout=10) as http:
        demo = Issuer(http, server.issuer_for("demo"), f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest")
        full_flow(demo, statements)
        statements.clear()
        client_id, spent = full_flow(demo, statements)

    assert {step: n for step, n in spent.items() if n > BUDGET[step]} == {}, spent
    assert isinstance(server.db, Path)
    journey = journey_of(server.db, client_id)
    assert steps(server.db, journey["id"]) == [*DEMO_FLOW_STEPS, "token_refreshed"]
