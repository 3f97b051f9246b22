"""Races at the token endpoint (issue 6, reliability): one code or one refresh token, sent at once.

The rules being raced, from OAuth 2.1 and this server's own (AS-34, AS-39):

- A code is redeemed once (OAuth 2.1 §4.1.3). Of N redemptions sent together exactly one gets
  tokens; every other one is ``invalid_grant``. "If an authorization code is used more than once,
  the authorization server MUST deny the request and SHOULD revoke (when possible) all tokens
  previously issued based on that authorization code": the server serialises the redemptions, so
  each loser arrives after the winner. A loser with the right ``code_verifier`` is a valid replay
  and revokes the grant, so the winner's refresh token is dead; losers with a wrong verifier are
  only refused (AS-34), and the winner's grant lives on.
- Refreshes of one refresh token sent at once are raced in ``test_refresh_families.py``: within
  the grace window they all get the same new pair; without it, one wins and the family dies.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from threading import Barrier

import httpx2

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import Code, Issuer, Pkce, journey_of, steps

TRIALS = 30
AT_ONCE = 8


def at_once(requests: list[Callable[[], httpx2.Response]]) -> list[httpx2.Response]:
    """Send the requests from as many threads, released together by a barrier."""
    barrier = Barrier(len(requests))

    def send(request: Callable[[], httpx2.Response]) -> httpx2.Response:
        barrier.wait()
        return request()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def outcomes(responses: list[httpx2.Response]) -> list[str]:
    """Each response as ``"ok"`` or its error code, sorted: the race's result, whatever the order."""
    return sorted("ok" if r.status_code == 200 else f"{r.status_code} {r.json()['error']}" for r in responses)


LOST = ["400 invalid_grant"] * (AT_ONCE - 1)


class TestConcurrentCodeRedemption:
    def test_exactly_one_of_many_valid_redemptions_wins_and_the_replays_revoke_its_grant(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """OAuth 2.1 §4.1.3, AS-34: one 200, the rest invalid_grant, and the winner's refresh token is dead."""
        for _ in range(TRIALS):
            client = demo.register()
            code = demo.code(client)

            responses = at_once([partial(demo.exchange, client, code)] * AT_ONCE)

            assert outcomes(responses) == [*LOST, "ok"]
            (winner,) = [r.json() for r in responses if r.status_code == 200]
            assert demo.refresh(client, winner["refresh_token"]).status_code == 400
            journey = journey_of(demo_as.db, client.client_id)
            assert journey["status"] == "revoked"
            assert steps(demo_as.db, journey["id"]).count("code_replayed") == 1

    def test_exactly_one_wins_against_many_redemptions_with_a_wrong_verifier_and_nothing_is_revoked(
        self, demo_as: AuthorizationServer, demo: Issuer
    ):
        """AS-34: one 200 for the right verifier, invalid_grant for the rest, and the grant stays active."""
        for _ in range(TRIALS):
            client = demo.register()
            code = demo.code(client)
            forged = Code(code.value, Pkce.new(), code.redirect_uri)

            responses = at_once(
                [partial(demo.exchange, client, code)] + [partial(demo.exchange, client, forged)] * (AT_ONCE - 1)
            )

            assert outcomes(responses) == [*LOST, "ok"]
            assert responses[0].status_code == 200
            assert demo.refresh(client, responses[0].json()["refresh_token"]).status_code == 200
            assert journey_of(demo_as.db, client.client_id)["status"] == "active"
