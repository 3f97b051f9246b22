"""Refresh-token families with a grace window (AS-39, AS-40, docs/decisions/0018).

Every refresh rotates the refresh token (OAuth 2.1 §4.3.1). A client that refreshes twice at
once, from two places, presents the just-rotated token again: within ``--refresh-grace`` seconds
(10 by default) and while the successor is unused, that client gets the very same new pair.
Otherwise a rotated token coming back means it leaked, and the whole family is revoked
(RFC 9700 §4.14.2).
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx2
import pytest

from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import Issuer, Registered, journey_of, rows, steps
from tests.authorization_server.test_races import AT_ONCE, at_once, outcomes

GRACE = 1


def error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


@dataclass(frozen=True)
class GraceServer:
    """A demo-mode server of this test's own with ``--refresh-grace`` set, and its demo issuer."""

    server: AuthorizationServer
    demo: Issuer

    def rotated(self) -> tuple[Registered, str, str]:
        """A client, its first refresh token (now rotated) and that token's successor."""
        client = self.demo.register()
        old = self.demo.tokens(client)["refresh_token"]
        return client, old, self.demo.refresh(client, old).json()["refresh_token"]


def grace_server(tmp_path: Path, mcp_port: int, demo: Issuer, seconds: int) -> Iterator[GraceServer]:
    server = start_authorization_server(tmp_path, "--refresh-grace", str(seconds), mcp_port=mcp_port)
    registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
    yield GraceServer(server, Issuer(demo.http, server.issuer_for("demo"), registration, resource=demo.resource))
    server.program.stop()


@pytest.fixture(name="short_grace")
def _short_grace(tmp_path: Path, mcp_port: int, demo: Issuer) -> Iterator[GraceServer]:
    yield from grace_server(tmp_path, mcp_port, demo, GRACE)


@pytest.fixture(name="no_grace")
def _no_grace(tmp_path: Path, mcp_port: int, demo: Issuer) -> Iterator[GraceServer]:
    yield from grace_server(tmp_path, mcp_port, demo, 0)


class TestGraceWindow:
    def test_a_second_refresh_within_the_window_gets_the_same_pair(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-39, decision 0018: the same client, the same just-rotated token, within 10 s: the same pair."""
        client = demo.register()
        old = demo.tokens(client)["refresh_token"]

        first = demo.refresh(client, old)
        second = demo.refresh(client, old)

        assert (first.status_code, second.status_code) == (200, 200)
        assert second.json() == first.json()
        assert demo.refresh(client, first.json()["refresh_token"]).status_code == 200
        journey = journey_of(demo_as.db, client.client_id)
        assert journey["status"] == "active"
        assert steps(demo_as.db, journey["id"]).count("token_refreshed") == 3

    def test_many_refreshes_at_once_all_get_the_same_pair_and_the_family_lives(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """AS-39, decision 0018: N concurrent refreshes of one token: N times the same pair, still usable."""
        for _ in range(10):
            client = demo.register()
            refresh_token = demo.tokens(client)["refresh_token"]

            responses = at_once([partial(demo.refresh, client, refresh_token)] * AT_ONCE)

            assert outcomes(responses) == ["ok"] * AT_ONCE
            assert len({r.json()["refresh_token"] for r in responses}) == 1
            assert len({r.json()["access_token"] for r in responses}) == 1
            assert demo.refresh(client, responses[0].json()["refresh_token"]).status_code == 200
            assert journey_of(demo_as.db, client.client_id)["status"] == "active"

    def test_the_repeat_keeps_to_the_grant_scope_and_resource(self, demo: Issuer, other: Issuer):
        """AS-40, AS-36: a repeat asking for more scope is invalid_scope, for another resource invalid_target."""
        client = demo.register()
        old = demo.tokens(client, scope="mcp:read")["refresh_token"]
        assert demo.refresh(client, old).status_code == 200

        assert error_of(demo.refresh(client, old, scope="mcp:read mcp:write")) == (400, "invalid_scope")
        assert error_of(demo.refresh(client, old, resource=other.resource)) == (400, "invalid_target")
        assert demo.refresh(client, old).status_code == 200

    def test_another_client_presenting_the_rotated_token_gets_nothing(self, demo: Issuer):
        """AS-40, OAuth 2.1 §4.3: the grace is for the token's own client only."""
        owner, intruder = demo.register(), demo.register()
        old = demo.tokens(owner)["refresh_token"]
        new = demo.refresh(owner, old).json()

        assert error_of(demo.refresh(intruder, old)) == (400, "invalid_grant")
        assert demo.refresh(owner, old).json() == new

    def test_a_repeat_after_the_successor_was_used_revokes_the_family(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-39: the grace ends when the successor is used; the old token then means a leak."""
        client = demo.register()
        old = demo.tokens(client)["refresh_token"]
        new = demo.refresh(client, old).json()["refresh_token"]
        newest = demo.refresh(client, new).json()["refresh_token"]

        assert error_of(demo.refresh(client, old)) == (400, "invalid_grant")
        assert error_of(demo.refresh(client, newest)) == (400, "invalid_grant")
        assert journey_of(demo_as.db, client.client_id)["status"] == "revoked"

    def test_after_the_window_a_reuse_revokes_the_whole_family(self, short_grace: GraceServer):
        """AS-39, OAuth 2.1 §4.3.1, RFC 9700 §4.14.2: past --refresh-grace the old token revokes its family."""
        issuer = short_grace.demo
        client, old, new = short_grace.rotated()
        time.sleep(GRACE + 0.2)

        assert error_of(issuer.refresh(client, old)) == (400, "invalid_grant")
        assert error_of(issuer.refresh(client, new)) == (400, "invalid_grant")
        journey = journey_of(short_grace.server.db, client.client_id)
        assert journey["status"] == "revoked"
        assert "refresh_token_reused" in steps(short_grace.server.db, journey["id"])

    def test_without_a_window_the_first_reuse_revokes_the_family(self, no_grace: GraceServer):
        """AS-39: --refresh-grace 0 turns the window off: a second refresh fails and kills the successor."""
        issuer = no_grace.demo
        client, old, new = no_grace.rotated()

        assert error_of(issuer.refresh(client, old)) == (400, "invalid_grant")
        assert error_of(issuer.refresh(client, new)) == (400, "invalid_grant")
        assert journey_of(no_grace.server.db, client.client_id)["status"] == "revoked"

    def test_many_refreshes_at_once_without_a_window_leave_one_winner_and_a_dead_family(self, no_grace: GraceServer):
        """OAuth 2.1 §4.3.1, RFC 9700 §4.14.2: one new pair, the rest invalid_grant, and the new pair is dead."""
        issuer = no_grace.demo
        for _ in range(10):
            client = issuer.register()
            refresh_token = issuer.tokens(client)["refresh_token"]

            responses = at_once([partial(issuer.refresh, client, refresh_token)] * AT_ONCE)

            assert outcomes(responses) == [*["400 invalid_grant"] * (AT_ONCE - 1), "ok"]
            (winner,) = [r.json() for r in responses if r.status_code == 200]
            assert error_of(issuer.refresh(client, winner["refresh_token"])) == (400, "invalid_grant")
            assert journey_of(no_grace.server.db, client.client_id)["status"] == "revoked"


class TestSuccessorAtRest:
    def test_the_successor_is_stored_sealed_never_in_plaintext(self, demo_as: AuthorizationServer, demo: Issuer):
        """Decision 0018, AS-40 (integrity-protected): the database holds the pair only as AES-GCM ciphertext."""
        client = demo.register()
        old = demo.tokens(client)["refresh_token"]
        new = demo.refresh(client, old).json()

        database = b"".join(path.read_bytes() for path in demo_as.db.parent.glob(demo_as.db.name + "*"))
        assert new["refresh_token"].encode() not in database
        assert new["access_token"].encode() not in database
        [row] = rows(
            demo_as.db,
            "SELECT successor_sealed FROM refresh_tokens WHERE rotated_at IS NOT NULL AND client_id = ?",
            client.client_id,
        )
        assert row["successor_sealed"] is not None and b"refresh_token" not in row["successor_sealed"]

    def test_the_sealed_successor_is_wiped_after_the_window(self, short_grace: GraceServer):
        """Decision 0018: once the window has passed, the next refresh wipes the sealed pair."""
        client, _, new = short_grace.rotated()
        time.sleep(GRACE + 0.2)

        assert short_grace.demo.refresh(client, new).status_code == 200

        first, second = rows(
            short_grace.server.db,
            "SELECT successor_sealed FROM refresh_tokens WHERE client_id = ? AND rotated_at IS NOT NULL"
            " ORDER BY rotated_at",
            client.client_id,
        )
        assert first["successor_sealed"] is None
        assert second["successor_sealed"] is not None
