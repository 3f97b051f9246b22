"""Refresh-token families with a grace window (AS-39, AS-40, docs/decisions/0018).

Every refresh rotates the refresh token (OAuth 2.1 §4.3.1). A client that refreshes twice at
once, from two places, presents the just-rotated token again: within the grace window and while
the successor is unused, that client gets the very same new pair, and the journey records the
reuse (``refresh_token_grace_reuse``). The window is ``--refresh-grace-confidential`` seconds (10
by default) for a confidential client, ``--refresh-grace-public`` (5) for a public one (issue 11
item 12). Otherwise a rotated token coming back means it leaked, and the whole family is revoked
(RFC 9700 §4.14.2).
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import httpx2
import pytest

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.tokens import repository as refresh_repository
from mcp_authz.authorization_server.tokens.entities import RefreshToken
from mcp_authz.client.dpop import DpopKey
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import Issuer, Registered, journey_of, rows, steps
from tests.authorization_server.test_races import AT_ONCE, at_once, outcomes
from tests.authorization_server.test_rfc9449_dpop import _exchange as exchange_with_proofs
from tests.authorization_server.test_rfc9449_dpop import refresh_with

GRACE = 1


def error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


@dataclass(frozen=True)
class GraceServer:
    """A demo-mode server of this test's own with its grace windows set, and its demo issuer."""

    server: AuthorizationServer
    demo: Issuer

    def rotated(self, **metadata: str) -> tuple[Registered, str, str]:
        """A client (public unless ``metadata`` says), its first refresh token (now rotated) and its successor."""
        client = self.demo.register(**metadata)
        old = self.demo.tokens(client)["refresh_token"]
        return client, old, self.demo.refresh(client, old).json()["refresh_token"]


def grace_server(
    tmp_path: Path, mcp_port: int, demo: Issuer, *options: str, in_process: bool = True
) -> Iterator[GraceServer]:
    """In-process unless asked (a restart needs a process), so that a test moves its clock past a window."""
    server = start_authorization_server(tmp_path, *options, mcp_port=mcp_port, in_process=in_process)
    registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
    yield GraceServer(server, Issuer(demo.http, server.issuer_for("demo"), registration, resource=demo.resource))
    server.program.stop()


@pytest.fixture(name="short_grace")
def _short_grace(tmp_path: Path, mcp_port: int, demo: Issuer) -> Iterator[GraceServer]:
    """A short window for public clients, and the default (10 s) for confidential ones."""
    yield from grace_server(tmp_path, mcp_port, demo, "--refresh-grace-public", str(GRACE))


@pytest.fixture(name="short_graces")
def _short_graces(tmp_path: Path, mcp_port: int, demo: Issuer) -> Iterator[GraceServer]:
    """Short windows for every client: sealed pairs are kept as long as the longer window."""
    yield from grace_server(
        tmp_path, mcp_port, demo, "--refresh-grace-public", str(GRACE), "--refresh-grace-confidential", str(GRACE)
    )


@pytest.fixture(name="long_grace")
def _long_grace(tmp_path: Path, mcp_port: int, demo: Issuer) -> Iterator[GraceServer]:
    """A window far longer than a restart takes, for every client."""
    yield from grace_server(
        tmp_path,
        mcp_port,
        demo,
        "--refresh-grace-public",
        "600",
        "--refresh-grace-confidential",
        "600",
        in_process=False,
    )


@pytest.fixture(name="no_grace")
def _no_grace(tmp_path: Path, mcp_port: int, demo: Issuer) -> Iterator[GraceServer]:
    yield from grace_server(
        tmp_path, mcp_port, demo, "--refresh-grace-public", "0", "--refresh-grace-confidential", "0"
    )


class TestGraceWindow:
    def test_a_second_refresh_within_the_window_gets_the_same_pair(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-39, decision 0018: the same client, the same just-rotated token, within 5 s: the same pair.

        Issue 11 item 12: the reuse is recorded as a step of its own, not as another refresh.
        """
        client = demo.register()
        old = demo.tokens(client)["refresh_token"]

        first = demo.refresh(client, old)
        second = demo.refresh(client, old)

        assert (first.status_code, second.status_code) == (200, 200)
        assert second.json() == first.json()
        assert demo.refresh(client, first.json()["refresh_token"]).status_code == 200
        journey = journey_of(demo_as.db, client.client_id)
        assert journey["status"] == "active"
        recorded = steps(demo_as.db, journey["id"])
        assert recorded[-3:] == ["token_refreshed", "refresh_token_grace_reuse", "token_refreshed"]

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
            journey = journey_of(demo_as.db, client.client_id)
            assert journey["status"] == "active"
            assert steps(demo_as.db, journey["id"]).count("refresh_token_grace_reuse") == AT_ONCE - 1

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
        """AS-39, OAuth 2.1 §4.3.1, RFC 9700 §4.14.2: past --refresh-grace-public the old token revokes its family."""
        issuer = short_grace.demo
        with clock.frozen():
            client, old, new = short_grace.rotated()
            clock.advance(GRACE + 0.2)

            assert error_of(issuer.refresh(client, old)) == (400, "invalid_grant")
            assert error_of(issuer.refresh(client, new)) == (400, "invalid_grant")
        journey = journey_of(short_grace.server.db, client.client_id)
        assert journey["status"] == "revoked"
        assert "refresh_token_reused" in steps(short_grace.server.db, journey["id"])

    def test_without_a_window_the_first_reuse_revokes_the_family(self, no_grace: GraceServer):
        """AS-39: a window of 0 turns it off: a second refresh fails and kills the successor."""
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

    def test_the_long_window_is_for_confidential_clients_only(self, short_grace: GraceServer):
        """Issue 11 item 12, RFC 9700 §4.14.2: past the public window a public client's reuse revokes its
        family, while a confidential client, within its longer window, gets the same pair and the step."""
        issuer, db = short_grace.demo, short_grace.server.db
        with clock.frozen():
            public, public_old, _ = short_grace.rotated()
            confidential, confidential_old, _ = short_grace.rotated(token_endpoint_auth_method="client_secret_post")
            first_answer = issuer.refresh(confidential, confidential_old)  # within both windows: the same pair
            clock.advance(GRACE + 0.2)  # past the public window (1 s), well within the confidential one (10 s)

            public_reuse = issuer.refresh(public, public_old)
            confidential_reuse = issuer.refresh(confidential, confidential_old)

        assert error_of(public_reuse) == (400, "invalid_grant")
        assert journey_of(db, public.client_id)["status"] == "revoked"
        assert confidential_reuse.status_code == 200, confidential_reuse.text
        assert confidential_reuse.json() == first_answer.json()
        journey = journey_of(db, confidential.client_id)
        assert journey["status"] == "active"
        assert steps(db, journey["id"])[-2:] == ["refresh_token_grace_reuse", "refresh_token_grace_reuse"]
        last = "SELECT detail FROM journey_events WHERE journey_id = ? ORDER BY id DESC LIMIT 1"
        [event] = rows(db, last, journey["id"])
        assert "within the grace window of a confidential client" in event["detail"]

    def test_issue_11_item_12_a_dpop_bound_public_reuse_is_recorded_under_the_window_that_applied(
        self, short_grace: GraceServer
    ):
        """Issue 11 item 12 ("record every reuse"), RFC 9449 §5, decision 0048: a public client's DPoP-bound
        refresh token has the confidential window, so past the public one its reuse gets the same pair, and
        the step says which window applied (it said "public client")."""
        issuer, db, key = short_grace.demo, short_grace.server.db, DpopKey.new()
        with clock.frozen():
            client = issuer.register()
            proof = partial(key.proof, "POST", issuer.token_endpoint)
            issued = exchange_with_proofs(issuer, client, issuer.code(client), (proof(),)).json()
            first = refresh_with(issuer, client, issued["refresh_token"], proof())
            clock.advance(GRACE + 0.2)  # past the public window (1 s), within the confidential one (10 s)
            again = refresh_with(issuer, client, issued["refresh_token"], proof())

        assert again.status_code == 200, again.text
        assert again.json()["refresh_token"] == first.json()["refresh_token"]
        journey = journey_of(db, client.client_id)
        last = "SELECT step, detail FROM journey_events WHERE journey_id = ? ORDER BY id DESC LIMIT 1"
        [event] = rows(db, last, journey["id"])
        assert event["step"] == "refresh_token_grace_reuse"
        assert "within the grace window of a DPoP-bound public client" in event["detail"]


class TestSuccessorAtRest:
    @pytest.mark.sqlite_only("reads the bytes of the SQLite file and its WAL on disk")
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

    def test_the_sealed_successor_is_wiped_after_the_window(self, short_graces: GraceServer):
        """Decision 0018: once the window (the longer of the two) has passed, the next refresh wipes the sealed pair."""
        short_grace = short_graces
        with clock.frozen():
            client, _, new = short_grace.rotated()
            clock.advance(GRACE + 0.2)

            assert short_grace.demo.refresh(client, new).status_code == 200

        first, second = rows(
            short_grace.server.db,
            "SELECT successor_sealed FROM refresh_tokens WHERE client_id = ? AND rotated_at IS NOT NULL"
            " ORDER BY rotated_at",
            client.client_id,
        )
        assert first["successor_sealed"] is None
        assert second["successor_sealed"] is not None

    def test_a_refresh_wipes_only_its_own_familys_pair(self, short_graces: GraceServer):
        """Decision 0018, issue 13: a refresh writes no other grant's rows (on PostgreSQL, refreshes of two
        grants sweeping every family at once conflicted and failed); the maintenance round wipes the rest."""
        with clock.frozen():
            client, _, _ = short_graces.rotated()
            other, _, other_new = short_graces.rotated()
            clock.advance(GRACE + 0.2)

            assert short_graces.demo.refresh(other, other_new).status_code == 200

        [untouched] = rows(
            short_graces.server.db,
            "SELECT successor_sealed FROM refresh_tokens WHERE client_id = ? AND rotated_at IS NOT NULL",
            client.client_id,
        )
        assert untouched["successor_sealed"] is not None

    def test_a_restart_keeps_the_window_as_its_key_is_the_shared_one(self, long_grace: GraceServer):
        """Decision 0018, issue 13: the pair is sealed under the key every instance shares (the key encryption
        key), so a restarted server, or another instance, answers the repeated token with the same pair
        within the window (docs/decisions/0046-several-instances.md)."""
        client, old, new = long_grace.rotated()
        assert long_grace.demo.refresh(client, old).json()["refresh_token"] == new  # within the window: same pair

        long_grace.server.program.stop()
        long_grace.server.program.start()

        assert long_grace.demo.refresh(client, old).json()["refresh_token"] == new


def test_a_rotation_lost_to_another_instance_is_answered_as_a_repeat(
    tmp_path: Path, mcp_port: int, demo: Issuer, monkeypatch: pytest.MonkeyPatch
):
    """Issue 13, decision 0018: on an engine whose transactions run side by side, two instances may both read
    a token unrotated; the one whose compare-and-swap loses reads it again and answers as a repeat within the
    grace window (the same pair), not invalid_grant. Simulated on SQLite by a read from before the rotation."""
    servers = grace_server(tmp_path, mcp_port, demo)  # in-process: the patch below reaches its repository
    issuer = next(servers).demo
    client = issuer.register()
    old = issuer.tokens(client)["refresh_token"]
    first = issuer.refresh(client, old).json()  # the other instance's rotation, committed
    stale = {hashlib.sha256(old.encode()).hexdigest()}
    real_get = refresh_repository.get

    async def read_before_the_rotation(tx: Transaction, token_hash: str) -> RefreshToken | None:
        found = await real_get(tx, token_hash)
        if found is not None and token_hash in stale:
            stale.discard(token_hash)  # only the first read, as the other instance had not committed yet
            return replace(found, rotated_at=None, successor_hash=None, successor_sealed=None)
        return found

    monkeypatch.setattr(refresh_repository, "get", read_before_the_rotation)
    try:
        second = issuer.refresh(client, old)
    finally:
        next(servers, None)  # stops the server

    assert not stale  # the stale read happened
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] == first["refresh_token"]
