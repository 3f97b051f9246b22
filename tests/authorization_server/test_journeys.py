"""The journey records of seed 000: journeys, their events, and their MCP and downstream flows."""

import re
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from scripts.stack import AuthorizationServer
from tests.authorization_server.conftest import OTHER_SERVER_ID
from tests.authorization_server.flows import Issuer, journey_of, rows, steps


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
        assert steps(demo_as.db, journey["id"]) == [
            "registered",
            "authorization_requested",
            "user_authenticated",
            "consent_given",
            "code_issued",
            "code_redeemed",
        ]
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


@pytest.fixture(name="connections")
def _connections(demo_as: AuthorizationServer, other: Issuer) -> dict[str, str]:
    """One MCP connection (a downstream provider) of the demo server and one of the other server."""
    suffix = datetime.now().strftime("%H%M%S%f")
    ids = {"demo": f"con_demo_{suffix}", OTHER_SERVER_ID: f"con_other_{suffix}"}
    with closing(sqlite3.connect(demo_as.db, timeout=5)) as db, db:
        for server_id, connection_id in ids.items():
            db.execute(
                "INSERT INTO mcp_connections (id, mcp_server_id, name, created_at) VALUES (?, ?, ?, ?)",
                (connection_id, server_id, f"github-{suffix}", "2026-01-01T00:00:00+00:00"),
            )
    return ids


def add_downstream_flow(db: Path, flow_id: str, journey_id: str, connection_id: str) -> None:
    """Insert a downstream authorization flow directly, as the schema's own test."""
    with closing(sqlite3.connect(db, timeout=5)) as connection, connection:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute(
            "INSERT INTO downstream_authorization_flows (id, journey_id, mcp_connection_id, status, created_at,"
            " updated_at) VALUES (?, ?, ?, 'pending', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
            (flow_id, journey_id, connection_id),
        )


class TestDownstreamAuthorizationFlows:
    def test_a_connection_of_the_journeys_mcp_server_is_accepted(
        self, demo_as: AuthorizationServer, demo: Issuer, connections: dict[str, str]
    ):
        """Seed 000: a downstream flow links a journey and a connection of the same MCP server."""
        journey = journey_of(demo_as.db, demo.register().client_id)

        add_downstream_flow(demo_as.db, "dfl_" + connections["demo"], journey["id"], connections["demo"])

        [flow] = rows(demo_as.db, "SELECT * FROM downstream_authorization_flows WHERE journey_id = ?", journey["id"])
        assert flow["mcp_connection_id"] == connections["demo"]

    def test_a_connection_of_another_mcp_server_is_refused_by_the_schema(
        self, demo_as: AuthorizationServer, demo: Issuer, connections: dict[str, str]
    ):
        """Seed 000: the connection must belong to the MCP server of the journey's MCP flow."""
        journey = journey_of(demo_as.db, demo.register().client_id)

        with pytest.raises(sqlite3.IntegrityError, match=RAISED):
            add_downstream_flow(
                demo_as.db, "dfl_" + connections[OTHER_SERVER_ID], journey["id"], connections[OTHER_SERVER_ID]
            )

        assert (
            rows(demo_as.db, "SELECT * FROM downstream_authorization_flows WHERE journey_id = ?", journey["id"]) == []
        )

    def test_moving_a_flow_to_a_connection_of_another_server_is_refused(
        self, demo_as: AuthorizationServer, demo: Issuer, connections: dict[str, str]
    ):
        """Seed 000: the rule holds for updates too, not only for inserts."""
        journey = journey_of(demo_as.db, demo.register().client_id)
        flow_id = "dfl_moved_" + connections["demo"]
        add_downstream_flow(demo_as.db, flow_id, journey["id"], connections["demo"])

        with (
            pytest.raises(sqlite3.IntegrityError, match=RAISED),
            closing(sqlite3.connect(demo_as.db, timeout=5)) as db,
            db,
        ):
            db.execute(
                "UPDATE downstream_authorization_flows SET mcp_connection_id = ? WHERE id = ?",
                (connections[OTHER_SERVER_ID], flow_id),
            )


class TestJourneysCommand:
    def test_journeys_list_prints_the_journey_its_flow_and_its_steps(self, demo_as: AuthorizationServer, demo: Issuer):
        """Seed 000: `python -m authorization_server journeys list --db PATH` shows the latest journey."""
        client = demo.register()
        demo.tokens(client)
        journey = journey_of(demo_as.db, client.client_id)

        output = demo_as.cli("journeys", "list", "--limit", "1").stdout

        lines = output.splitlines()
        assert lines[0] == f"journey {journey['id']}  [active]  issuer {demo.url}"
        assert lines[1] == (
            f"  MCP authorization flow {journey['flow_id']}: client {client.client_id} -> MCP server demo"
            " (version latest)"
        )
        assert lines[2] == f"  request: scope 'mcp:read', resource {demo.resource}"
        assert lines[3] == f"  approved by user {journey['user_id']}"
        assert [re.fullmatch(r"    \S+  \+ *[0-9.]+ ms  (\w+) .*", line)[1] for line in lines[4:]] == [
            "registered",
            "authorization_requested",
            "user_authenticated",
            "consent_given",
            "code_issued",
            "code_redeemed",
        ]
