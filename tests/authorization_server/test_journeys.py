"""The journey records of seed 000: journeys, their events, and their MCP and downstream flows."""

import inspect
import itertools
import re
import sqlite3
import typing
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx2
import pytest

from mcp_authz.authorization_server.encryption import Sealer, new_key, parse_key
from mcp_authz.authorization_server.engines import open_database
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound
from mcp_authz.authorization_server.journeys import repository
from mcp_authz.authorization_server.journeys.entities import (
    CompletedDownstreamFlow,
    DownstreamAuthorizationFlow,
    DownstreamFlowStatus,
    StartedDownstreamFlow,
)
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.secrets_at_rest import new_secret
from mcp_authz.shared.pkce import new_verifier
from scripts.stack import AuthorizationServer
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD, OTHER_SERVER_ID
from tests.authorization_server.flows import (
    CALLBACK,
    DEMO_FLOW_STEPS,
    PUBLIC_CLIENT,
    Issuer,
    execute,
    journey_of,
    rows,
    steps,
)


def times(db: Path, journey_id: str) -> list[datetime]:
    """The timestamps of a journey's steps, in the order they were recorded."""
    found = rows(db, "SELECT at FROM journey_events WHERE journey_id = ? ORDER BY id", journey_id)
    return [datetime.fromisoformat(row["at"]) for row in found]


class TestJourneyOfAnMcpClient:
    def test_a_full_flow_moves_the_journey_to_active_through_every_step(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """Seed 000: registered -> active, each step stamped in order (demo mode signs in and consents)."""
        client = demo.register()

        demo.tokens(client)

        journey = journey_of(demo_as.db, client.client_id)
        assert journey["status"] == "active"
        assert steps(demo_as.db, journey["id"]) == DEMO_FLOW_STEPS
        stamps = times(demo_as.db, journey["id"])
        assert stamps == sorted(stamps)
        created, updated = datetime.fromisoformat(journey["created_at"]), datetime.fromisoformat(journey["updated_at"])
        assert created <= stamps[0]
        assert created <= updated <= stamps[-1]

    def test_the_records_link_client_journey_mcp_server_user_and_refresh_token(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """Seed 000: the MCP flow links journey, MCP server and client; the grant's rows point at the journey."""
        client = demo.register()

        demo.tokens(client)

        journey = journey_of(demo_as.db, client.client_id)
        [user] = rows(demo_as.db, "SELECT id FROM users WHERE username = 'demo'")
        [token] = rows(demo_as.db, "SELECT * FROM refresh_tokens WHERE journey_id = ?", journey["id"])
        assert (journey["mcp_server_id"], journey["mcp_server_version"], journey["issuer"]) == (
            "demo",
            "latest",
            demo.url,
        )
        assert journey["user_id"] == user["id"]
        assert (token["client_id"], token["subject"], token["resource"]) == (
            client.client_id,
            user["id"],
            demo.resource,
        )

    def test_a_refresh_adds_a_token_refreshed_step(self, demo_as: AuthorizationServer, demo: Issuer):
        """Seed 000: every refresh is stamped on the journey it continues."""
        client = demo.register()
        refresh_token = demo.tokens(client)["refresh_token"]

        demo.refresh(client, refresh_token)

        journey = journey_of(demo_as.db, client.client_id)
        assert steps(demo_as.db, journey["id"])[-2:] == ["code_redeemed", "token_refreshed"]
        stamps = times(demo_as.db, journey["id"])
        assert stamps == sorted(stamps)

    def test_a_second_authorization_starts_a_second_journey(self, demo_as: AuthorizationServer, demo: Issuer):
        """Seed 000: a journey is one authorization; the client's second one has its own journey and flow."""
        client = demo.register()

        demo.tokens(client)
        demo.tokens(client)

        journeys = rows(
            demo_as.db,
            "SELECT j.status, f.mcp_server_id FROM authorization_journeys j"
            " JOIN mcp_authorization_flows f ON f.journey_id = j.id WHERE f.client_id = ? ORDER BY j.created_at",
            client.client_id,
        )
        assert [tuple(row) for row in journeys] == [("active", "demo"), ("active", "demo")]


class TestJourneyOfAGenericClient:
    def test_a_client_registered_at_the_root_gets_its_journey_at_authorize(
        self, demo_as: AuthorizationServer, root: Issuer, demo: Issuer
    ):
        """Seed 000: a generic client's authorization request starts the journey and its MCP flow."""
        client = root.register()

        root.tokens(client, resource=demo.resource)

        journey = journey_of(demo_as.db, client.client_id)
        assert (journey["status"], journey["issuer"]) == ("active", root.url)
        assert (journey["mcp_server_id"], journey["mcp_server_version"]) == ("demo", None)
        assert steps(demo_as.db, journey["id"])[0] == "authorization_requested"


RAISED = "the MCP connection belongs to another MCP server than the journey's MCP flow"
#: What the schema's trigger raises: SQLite's RAISE(ABORT), PostgreSQL's RAISE EXCEPTION (migrations/postgresql/0001).
REFUSED = (sqlite3.IntegrityError, asyncpg.exceptions.RaiseError)


def add_connection(server: AuthorizationServer, mcp_server_id: str, name: str, *provider: str) -> str:
    """Add an MCP connection with ``connections add``, as the operator would; its id."""
    output = server.cli(
        "connections", "add", "--mcp-server", mcp_server_id, "--name", name, "--client-id", "as-client",
        "--scopes", "repo read:user", *(provider or ("--issuer", "https://github.example")),
    ).stdout  # fmt: skip
    return output.split()[3]


#: An MCP server of ``demo_as`` whose connections name providers that do not exist here: its
#: journeys are only registered, never authorized (the downstream flow itself: test_downstream.py).
LINKED_SERVER_ID = "linked"


@pytest.fixture(name="linked", scope="session")
def _linked(demo_as: AuthorizationServer) -> str:
    """The ``linked`` MCP server's registration endpoint."""
    demo_as.cli(
        "mcp-servers", "add", "--id", LINKED_SERVER_ID, "--resource", f"{demo_as.url}/linked-mcp", "--scopes", "l"
    )
    return f"{demo_as.url}/api/v1/authz/clients/register/mcp/{LINKED_SERVER_ID}/latest"


def register_linked(demo_as: AuthorizationServer, linked: str) -> sqlite3.Row:
    """Register a client of the ``linked`` MCP server; its journey."""
    response = httpx2.post(linked, json=PUBLIC_CLIENT, timeout=10)
    assert response.status_code == 201, response.text
    return journey_of(demo_as.db, response.json()["client_id"])


@pytest.fixture(name="connections")
def _connections(demo_as: AuthorizationServer, linked: str, other: Issuer) -> dict[str, str]:
    """One MCP connection (a downstream provider) of the linked server and one of the other server."""
    suffix = datetime.now().strftime("%H%M%S%f")
    return {
        server_id: add_connection(demo_as, server_id, f"github-{suffix}")
        for server_id in (LINKED_SERVER_ID, OTHER_SERVER_ID)
    }


def add_downstream_flow(db: Path | str, flow_id: str, journey_id: str, connection_id: str) -> None:
    """Insert a downstream authorization flow directly, as the schema's own test (either engine)."""
    sql = (
        "INSERT INTO downstream_authorization_flows (id, journey_id, mcp_connection_id, status, created_at,"
        " updated_at) VALUES (?, ?, ?, 'pending', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
    )
    if isinstance(db, str):
        execute(db, sql, flow_id, journey_id, connection_id)
        return
    with closing(sqlite3.connect(db, timeout=5)) as connection, connection:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute(sql, (flow_id, journey_id, connection_id))


class TestDownstreamAuthorizationFlows:
    def test_a_connection_of_the_journeys_mcp_server_is_accepted(
        self, demo_as: AuthorizationServer, linked: str, connections: dict[str, str]
    ):
        """Seed 000: a downstream flow links a journey and a connection of the same MCP server."""
        journey = register_linked(demo_as, linked)

        add_downstream_flow(
            demo_as.db, "dfl_" + connections[LINKED_SERVER_ID], journey["id"], connections[LINKED_SERVER_ID]
        )

        [flow] = rows(demo_as.db, "SELECT * FROM downstream_authorization_flows WHERE journey_id = ?", journey["id"])
        assert flow["mcp_connection_id"] == connections[LINKED_SERVER_ID]

    def test_a_connection_of_another_mcp_server_is_refused_by_the_schema(
        self, demo_as: AuthorizationServer, linked: str, connections: dict[str, str]
    ):
        """Seed 000: the connection must belong to the MCP server of the journey's MCP flow."""
        journey = register_linked(demo_as, linked)

        with pytest.raises(REFUSED, match=RAISED):
            add_downstream_flow(
                demo_as.db, "dfl_" + connections[OTHER_SERVER_ID], journey["id"], connections[OTHER_SERVER_ID]
            )

        assert (
            rows(demo_as.db, "SELECT * FROM downstream_authorization_flows WHERE journey_id = ?", journey["id"]) == []
        )

    def test_moving_a_flow_to_a_connection_of_another_server_is_refused(
        self, demo_as: AuthorizationServer, linked: str, connections: dict[str, str]
    ):
        """Seed 000: the rule holds for updates too, not only for inserts."""
        journey = register_linked(demo_as, linked)
        flow_id = "dfl_moved_" + connections[LINKED_SERVER_ID]
        add_downstream_flow(demo_as.db, flow_id, journey["id"], connections[LINKED_SERVER_ID])

        with pytest.raises(REFUSED, match=RAISED):
            execute(
                demo_as.db,
                "UPDATE downstream_authorization_flows SET mcp_connection_id = ? WHERE id = ?",
                connections[OTHER_SERVER_ID],
                flow_id,
            )


async def start_downstream_flow(
    db_path: Path | str, journey_id: str, connection_id: str
) -> DownstreamAuthorizationFlow:
    """``JourneyService.start_downstream_flow`` on the server's database, in one transaction."""
    db = await open_database(db_path)
    try:
        sealer = Sealer(parse_key(new_key()))
        journeys = JourneyService(McpServerService(), code_ttl=60, interaction_ttl=600, sealer=sealer)
        return await db.run(
            lambda tx: journeys.start_downstream_flow(
                tx, journey_id, connection_id, state=new_secret(), code_verifier=new_verifier(), redirect_uri=CALLBACK
            )
        )
    finally:
        await db.close()


@pytest.mark.anyio
class TestStartingADownstreamFlow:
    async def test_a_connection_of_the_journeys_mcp_server_starts_a_flow(
        self, demo_as: AuthorizationServer, linked: str, connections: dict[str, str]
    ):
        """Seed 000: the journeys service links the journey and a connection of its MCP server, and stamps it."""
        journey = register_linked(demo_as, linked)

        flow = await start_downstream_flow(demo_as.db, journey["id"], connections[LINKED_SERVER_ID])

        [row] = rows(demo_as.db, "SELECT * FROM downstream_authorization_flows WHERE journey_id = ?", journey["id"])
        assert (row["id"], row["mcp_connection_id"], row["status"]) == (
            flow.id,
            connections[LINKED_SERVER_ID],
            "started",
        )
        assert steps(demo_as.db, journey["id"]) == ["registered", "downstream_flow_started"]

    async def test_a_connection_of_another_mcp_server_is_refused_with_the_reason(
        self, demo_as: AuthorizationServer, linked: str, connections: dict[str, str]
    ):
        """Issue 4: a downstream flow for another MCP server's connection is refused with a clear error."""
        journey = register_linked(demo_as, linked)
        connection = connections[OTHER_SERVER_ID]

        with pytest.raises(InvalidRequest) as refused:
            await start_downstream_flow(demo_as.db, journey["id"], connection)

        assert refused.value.description == (
            f"MCP connection '{connection}' belongs to MCP server 'other', not to 'linked',"
            f" the MCP server of journey '{journey['id']}'"
        )
        assert (
            rows(demo_as.db, "SELECT * FROM downstream_authorization_flows WHERE journey_id = ?", journey["id"]) == []
        )
        assert steps(demo_as.db, journey["id"]) == ["registered"]

    async def test_an_unknown_connection_is_not_found(self, demo_as: AuthorizationServer, linked: str):
        """Seed 000: a downstream flow links an MCP connection that exists."""
        journey = register_linked(demo_as, linked)

        with pytest.raises(NotFound, match="no MCP connection 'con_missing'"):
            await start_downstream_flow(demo_as.db, journey["id"], "con_missing")


class TestConnectionsCommand:
    def test_add_list_and_remove_a_connection(self, fresh_as: AuthorizationServer):
        """Issue 4: `connections add|list|remove` manage an MCP server's downstream providers."""
        fresh_as.cli("mcp-servers", "add", "--id", "files", "--resource", "http://localhost:8112/mcp", "--scopes", "f")
        connection_id = add_connection(
            fresh_as, "files", "drive", "--authorization-endpoint", "https://drive.example/authorize",
            "--token-endpoint", "https://drive.example/token", "--client-secret-env", "DRIVE_CLIENT_SECRET",
        )  # fmt: skip

        listed = fresh_as.cli("connections", "list", "--mcp-server", "files").stdout
        removed = fresh_as.cli("connections", "remove", connection_id).stdout

        assert listed.splitlines() == [
            f"{connection_id}  'drive' of MCP server files",
            "    authorization https://drive.example/authorize, token https://drive.example/token",
            "    client as-client (secret from $DRIVE_CLIENT_SECRET), scopes repo read:user",
        ]
        assert removed == f"removed MCP connection {connection_id} and its downstream flows\n"
        assert fresh_as.cli("connections", "list").stdout == "no MCP connections yet: add one with `connections add`\n"

    def test_a_connection_found_by_its_issuer_lists_that_issuer(
        self, demo_as: AuthorizationServer, connections: dict[str, str]
    ):
        """Issue 4: a connection may name its provider's issuer, to be discovered (RFC 8414)."""
        listed = demo_as.cli("connections", "list", "--mcp-server", LINKED_SERVER_ID).stdout.splitlines()

        at = listed.index(next(line for line in listed if line.startswith(connections[LINKED_SERVER_ID])))
        assert listed[at + 1 : at + 3] == [
            "    provider issuer https://github.example",
            "    client as-client (no secret), scopes repo read:user",
        ]

    @pytest.mark.parametrize(
        ("provider", "refusal"),
        [
            (
                ("--authorization-endpoint", "https://p.example/authorize"),
                "give either the provider's issuer or both its authorization and token endpoints",
            ),
            (
                ("--issuer", "http://p.example"),
                "'http://p.example' must be an https URL (plain http only on loopback), without a fragment",
            ),
        ],
    )
    def test_a_connection_without_a_usable_provider_is_refused(
        self, demo_as: AuthorizationServer, provider: tuple[str, ...], refusal: str
    ):
        """Issue 4: a connection names its provider by issuer, or by both endpoints, over https."""
        result = demo_as.cli(
            "connections", "add", "--mcp-server", "demo", "--name", "bad", "--client-id", "c", *provider, check=False
        )

        assert (result.returncode, result.stderr) == (1, f"authorization_server: {refusal}\n")

    def test_a_connection_of_an_unknown_mcp_server_is_refused(self, demo_as: AuthorizationServer):
        """Seed 000: an MCP connection belongs to an MCP server that exists."""
        result = demo_as.cli(
            "connections", "add", "--mcp-server", "nope", "--name", "x", "--client-id", "c",
            "--issuer", "https://p.example", check=False,
        )  # fmt: skip

        assert (result.returncode, result.stderr) == (1, "authorization_server: no MCP server with id 'nope'\n")


class TestJourneysCommand:
    def test_issue_17_journeys_list_fits_one_line_per_journey_with_its_username(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """Issue 17: `journeys list`, one line a journey: id, state, client name, MCP server, username, started, age."""
        client = demo.register()
        demo.tokens(client)
        journey = journey_of(demo_as.db, client.client_id)

        [line] = demo_as.cli("journeys", "list", "--limit", "1").stdout.splitlines()

        assert re.fullmatch(
            rf"{journey['id']}  active {{17}}  Test client {{13}}  demo {{12}}  demo {{12}}"
            r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \d+[smhd]",
            line,
        ), line
        assert len(line) <= 160

    def test_issue_17_journeys_list_names_the_user_who_signed_in_and_none_before(
        self, notes_as: AuthorizationServer, notes: Issuer
    ):
        """Issue 17: the username of the journey's user (alice); "-" for a journey nobody signed in to yet."""
        waiting = notes.sign_in_form()
        signed_in = notes.sign_in_form()
        assert notes.sign_in(signed_in, ALICE, ALICE_PASSWORD).status_code == 303
        del waiting

        lines = notes_as.cli("journeys", "list").stdout.splitlines()

        users = sorted(re.findall(r"  (\S+) *  \d{4}-\d\d-\d\d ", "\n".join(lines)))
        assert users == ["-", "-", "-", "alice"]  # the waiting one, the two registrations, alice's

    def test_issue_17_a_long_client_name_is_cut_to_its_column(self, demo_as: AuthorizationServer, demo: Issuer):
        """Issue 17: one line, whatever the client calls itself: a long name ends in "…" within its column."""
        client = demo.register(client_name="A very long application name indeed, far too long")
        demo.tokens(client)

        [line] = demo_as.cli("journeys", "list", "--limit", "1").stdout.splitlines()

        assert "  A very long application…  demo " in line

    def test_journeys_list_with_steps_prints_each_journey_as_show_does(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """Issue 2: the demo prints the records it created: `journeys list --steps` adds each journey's steps."""
        client = demo.register()
        demo.tokens(client)
        journey = journey_of(demo_as.db, client.client_id)

        listed = demo_as.cli("journeys", "list", "--limit", "1", "--steps").stdout

        assert listed == demo_as.cli("journeys", "show", journey["id"]).stdout

    @pytest.mark.anyio
    async def test_journeys_show_prints_each_step_with_its_duration_and_the_downstream_flow(
        self, demo_as: AuthorizationServer, linked: str, connections: dict[str, str]
    ):
        """Issue 4: `journeys show ID` is the timeline: each step, its time, the time since the step before."""
        journey = register_linked(demo_as, linked)
        flow = await start_downstream_flow(demo_as.db, journey["id"], connections[LINKED_SERVER_ID])

        lines = demo_as.cli("journeys", "show", journey["id"]).stdout.splitlines()

        [connection] = rows(demo_as.db, "SELECT name FROM mcp_connections WHERE id = ?", connections[LINKED_SERVER_ID])
        assert lines[6] == f"  downstream    {connection['name']} ({flow.id}) started"
        assert re.fullmatch(
            r"  outcome       in progress: registered, no authorization request yet, 2 steps in [0-9.]+ ms", lines[7]
        )
        timed = [re.fullmatch(r"    [0-9:.]+  \+ *([0-9.]+) ms  (\w+)( .*)?", line) for line in lines[8:]]
        assert [match[2] for match in timed] == ["registered", "downstream_flow_started"]
        stamps = times(demo_as.db, journey["id"])
        since_previous = [f"{(b - a).total_seconds() * 1000:.1f}" for a, b in itertools.pairwise(stamps)]
        assert [match[1] for match in timed[1:]] == since_previous

    def test_journeys_show_of_an_unknown_journey_says_so(self, demo_as: AuthorizationServer):
        """Issue 4: `journeys show` names the journey it could not find."""
        result = demo_as.cli("journeys", "show", "jrn_missing", check=False)

        assert (result.returncode, result.stderr) == (1, "authorization_server: no journey with id 'jrn_missing'\n")


def _types_in(annotation: object) -> set[object]:
    """``annotation`` and every type nested in it (unions, tuples, lists, ``X | None``)."""
    return {annotation}.union(*(_types_in(argument) for argument in typing.get_args(annotation)))


def test_the_repository_returns_entities_never_database_rows():
    """Issue 12, docs/conventions/entities.md: the repository turns rows into entities; none of its
    functions hands a database row back (the downstream callback and token exchange read
    ``StartedDownstreamFlow`` and ``CompletedDownstreamFlow``)."""
    functions = [
        function
        for name, function in inspect.getmembers(repository, inspect.isfunction)
        if function.__module__ == repository.__name__ and not name.startswith("_")
    ]

    returned = {function.__name__: _types_in(typing.get_type_hints(function)["return"]) for function in functions}

    assert "take_downstream_state" in returned and "completed_downstream_flow" in returned
    assert {
        name: sorted(str(t) for t in types if getattr(t, "__name__", None) == "Row" or t is sqlite3.Row)
        for name, types in returned.items()
    } == {name: [] for name in returned}


def test_sealed_columns_never_reach_a_log_by_repr():
    """docs/conventions/dtos.md: the sealed downstream tokens and verifier are ``repr=False``."""
    now = datetime.now(UTC)
    flow = DownstreamAuthorizationFlow("dfl_1", "jrn_1", "con_1", DownstreamFlowStatus.COMPLETED, now, now)
    started = StartedDownstreamFlow(flow, "http://localhost:9000/downstream/callback", b"sealed-verifier", now)
    completed = CompletedDownstreamFlow(flow, b"sealed-access", b"sealed-refresh", None, "profile")

    shown = repr(started) + repr(completed)

    assert "profile" in shown
    assert [value for value in ("sealed-verifier", "sealed-access", "sealed-refresh") if value in shown] == []
