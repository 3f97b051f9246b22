"""Anonymous ``/authorize`` must not grow the database without bound (issue 11, item 4).

Each accepted authorization request writes a journey, its MCP flow and a step. These tests show
that requests are rate-limited per address, that journeys abandoned at the sign-in or consent page
expire and ended ones are deleted after ``--journey-retention``, and that a stranger's request does
not take over the journey a client's registration started.
"""

from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import DEMO_FLOW_STEPS, Issuer, Registered, execute, rows, steps
from tests.authorization_server.test_consent_memory import READ, answered, approved, started
from tests.waiting import eventually

as_options = pytest.mark.as_options
LONG_AGO = (datetime.now(UTC) - timedelta(days=31)).isoformat()


def journeys_of(server: AuthorizationServer, client: Registered) -> list[dict[str, object]]:
    """Every journey of a client, oldest first, with its status, failure reason and steps."""
    found = rows(
        server.db,
        "SELECT j.id, j.status, j.failure_reason, f.mcp_server_version FROM authorization_journeys j"
        " JOIN mcp_authorization_flows f ON f.journey_id = j.id WHERE f.client_id = ? ORDER BY j.created_at, j.id",
        client.client_id,
    )
    return [{**dict(row), "steps": steps(server.db, row["id"])} for row in found]


def age_interactions(server: AuthorizationServer) -> None:
    """Move every interaction deadline into the past, as if the user had walked away long ago."""
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    execute(server.db, "UPDATE authorization_journeys SET interaction_expires_at = ?", past)


class TestRateLimit:
    @as_options("--rate-limit-authorize", "3/min")
    def test_authorization_requests_over_the_limit_get_a_429_page_and_write_no_journey(
        self, notes: Issuer, notes_as: AuthorizationServer
    ):
        """Issue 11 item 4, RFC 6585 §4: the fourth /authorize from one address within the minute is a readable
        429 page with Retry-After, and writes nothing (300 requests in 0.6 s wrote 300 journeys before)."""
        client = notes.register()

        answers = [notes.authorize(client) for _ in range(4)]

        assert [answer.status_code for answer in answers] == [303, 303, 303, 429]
        refused = answers[3]
        assert refused.headers["content-type"].startswith("text/html")
        assert 0 < int(refused.headers["retry-after"]) <= 20
        assert "Too many authorization requests from this address." in refused.text
        assert [journey["status"] for journey in journeys_of(notes_as, client)] == [
            "registered",
            "authorization_requested",
            "authorization_requested",
            "authorization_requested",
        ]


class TestRegistrationJourney:
    def test_a_strangers_authorization_request_does_not_take_over_the_registrations_journey(
        self, notes: Issuer, notes_as: AuthorizationServer
    ):
        """Issue 11 item 4: anyone who knows a client_id can send /authorize; that request gets a journey of its
        own, and the registration's journey joins only the authorization a signed-in user approves."""
        client = notes.register()
        with httpx2.Client(timeout=10) as other_browser:
            stranger = Issuer(other_browser, notes.url, notes.registration_endpoint, resource=notes.resource)
            assert stranger.authorize(client).status_code == 303

        assert [(j["status"], j["steps"]) for j in journeys_of(notes_as, client)] == [
            ("registered", ["registered"]),
            ("authorization_requested", ["authorization_requested"]),
        ]

        assert notes.exchange(client, approved(notes, client, READ)).status_code == 200

        [users, strangers] = journeys_of(notes_as, client)  # the user's journey starts at the registration
        assert (strangers["status"], strangers["steps"]) == ("authorization_requested", ["authorization_requested"])
        assert (users["status"], users["mcp_server_version"]) == ("active", "latest")
        assert users["steps"] == DEMO_FLOW_STEPS


class TestAbandonedJourneys:
    def test_an_authorization_abandoned_at_the_sign_in_page_ends_as_expired_after_the_interaction_lifetime(
        self, notes: Issuer, notes_as: AuthorizationServer
    ):
        """Issue 11 item 4: journeys left at the sign-in or the consent page past the interaction lifetime end
        as expired, stamped with where they were left; their pages no longer open."""
        client = notes.register()
        at_sign_in = notes.authorize(client)
        _, at_consent = started(notes, client, READ)
        age_interactions(notes_as)

        result = notes_as.cli("journeys", "cleanup")

        expected = "expired 2 journey(s) abandoned at sign-in, consent or a downstream provider"
        assert result.stdout.splitlines()[0] == expected
        expired = [j for j in journeys_of(notes_as, client) if j["status"] == "expired"]
        assert [(j["failure_reason"], j["steps"][-1]) for j in expired] == [
            ("abandoned at the sign-in page for longer than 600 s", "expired"),
            ("abandoned at the consent page for longer than 600 s", "expired"),
        ]
        for answer in (at_sign_in, at_consent):
            page = notes.http.get(str(httpx2.URL(notes.url).join(answer.headers["location"])))
            assert page.status_code == 400

    def test_journeys_that_ended_without_a_grant_are_deleted_after_the_retention_and_granted_ones_stay(
        self, notes: Issuer, notes_as: AuthorizationServer
    ):
        """Issue 11 item 4: failed, denied and expired journeys are deleted with their steps once
        --journey-retention has passed since they ended; a journey that issued tokens is kept."""
        client = notes.register()
        assert notes.exchange(client, approved(notes, client, READ)).status_code == 200
        _, consent = started(notes, client, READ + " notes:write")
        answered(notes, consent, "deny")
        notes.authorize(client)
        age_interactions(notes_as)
        notes_as.cli("journeys", "cleanup")
        assert sorted(j["status"] for j in journeys_of(notes_as, client)) == ["active", "denied", "expired"]

        kept = notes_as.cli("journeys", "cleanup").stdout.splitlines()[1]
        execute(notes_as.db, "UPDATE authorization_journeys SET updated_at = ?", LONG_AGO)
        deleted = notes_as.cli("journeys", "cleanup").stdout.splitlines()[1]

        assert kept == "deleted 0 journey(s) that ended without a grant more than 2592000 s ago"
        assert deleted == "deleted 2 journey(s) that ended without a grant more than 2592000 s ago"
        assert [j["status"] for j in journeys_of(notes_as, client)] == ["active"]
        orphans = (
            "SELECT count(*) AS n FROM journey_events WHERE journey_id NOT IN (SELECT id FROM authorization_journeys)"
        )
        assert rows(notes_as.db, orphans)[0]["n"] == 0

    @as_options("--interaction-ttl", "1", "--client-cleanup-interval", "1")
    def test_the_server_expires_abandoned_journeys_in_its_maintenance_task(
        self, notes: Issuer, notes_as: AuthorizationServer
    ):
        """Issue 11 item 4: the running server does it by itself, every --client-cleanup-interval seconds."""
        client = notes.register()
        notes.authorize(client)

        eventually(lambda: journeys_of(notes_as, client)[-1]["status"] == "expired")

        assert journeys_of(notes_as, client)[-1]["steps"] == ["authorization_requested", "expired"]
