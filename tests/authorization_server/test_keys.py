"""Signing key rotation (RFC 7517, RFC 9068 §4): `keys rotate` while the server runs.

A new key is published at once and signs from twice ``--cache-check-interval`` after it was made
(issue 13: every instance publishes it before any signs with it; tests/authorization_server/
test_instances.py checks that with two). This module's server looks every 0.1 s.
"""

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mcp_authz.authorization_server import clock
from mcp_authz.mcp_server.token_verifier import JwtVerifier
from scripts.stack import AuthorizationServer, free_port, start_authorization_server, start_mcp_server
from tests.authorization_server.flows import Issuer
from tests.mcp_server.helpers import post

#: The server's ``--cache-check-interval``: a rotated key signs from twice this after it was made.
CHECK_INTERVAL = 0.1


@pytest.fixture(name="stack", scope="module")
def _stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AuthorizationServer, int]]:
    """A demo authorization server of this module's own, since rotating changes its keys for everyone.

    In-process, so that a test moves its clock past the key's activation instead of sleeping."""
    mcp_port = free_port()
    workdir = tmp_path_factory.mktemp("keys_as")
    options = ("--cache-check-interval", str(CHECK_INTERVAL))
    server = start_authorization_server(workdir, *options, mcp_port=mcp_port, in_process=True)
    yield server, mcp_port
    server.program.stop()


@pytest.fixture(name="issuer")
def _issuer(stack: tuple[AuthorizationServer, int], http: httpx2.Client) -> Issuer:
    server, mcp_port = stack
    registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
    return Issuer(http, server.issuer_for("demo"), registration, resource=f"http://localhost:{mcp_port}/mcp")


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def published(server: AuthorizationServer) -> list[dict[str, Any]]:
    return list(httpx2.get(f"{server.url}/jwks.json").json()["keys"])


def new_token(issuer: Issuer) -> str:
    return str(issuer.tokens(issuer.register())["access_token"])


@contextmanager
def keys_due_for_a_check() -> Iterator[None]:
    """The in-process server's clock moved past the activation of a key made before (twice its check
    interval): its next request looks at the database, and signs with that key.

    The tokens it signs meanwhile are dated that little in the future; nothing here verifies them
    before the real clock got there.
    """
    with clock.frozen(datetime.now(UTC)):
        clock.advance(3 * CHECK_INTERVAL)
        yield


def token_after_rotation(issuer: Issuer) -> str:
    """A token issued once the running server is due to notice the rotation (it looks at most once a second)."""
    with keys_due_for_a_check():
        return new_token(issuer)


def test_a_rotation_makes_a_new_current_key_and_keeps_the_old_one_published(
    stack: tuple[AuthorizationServer, int], issuer: Issuer
):
    """RFC 7517 §5, RFC 9068 §4: new tokens name the new kid, and the JWK Set has both keys."""
    server, _ = stack
    before = new_token(issuer)

    rotated = server.cli("keys", "rotate", "--cache-check-interval", str(CHECK_INTERVAL))
    after = token_after_rotation(issuer)

    assert kid_of(after) != kid_of(before)
    assert rotated.stdout.startswith(f"new signing key {kid_of(after)} (ES256) is published; it signs from ")
    assert {key["kid"] for key in published(server)} >= {kid_of(before), kid_of(after)}


def test_a_rotated_key_is_published_at_once_and_signs_only_after_the_activation_delay(
    stack: tuple[AuthorizationServer, int], issuer: Issuer
):
    """Issue 13, RFC 7517 §5: the JWK Set names the new key before any token does: until twice the check
    interval has passed, the previous key keeps signing, so an instance that has not yet looked at the
    database never serves a JWK Set without the key of a token another instance signed."""
    server, _ = stack
    with clock.frozen(datetime.now(UTC)):
        clock.advance(3 * CHECK_INTERVAL)  # past the checks of the tests before, whose clocks ran ahead
        before = kid_of(new_token(issuer))
        server.cli("keys", "rotate", "--cache-check-interval", str(CHECK_INTERVAL))
        clock.advance(1.5 * CHECK_INTERVAL)  # the server looks again, yet the key is not due to sign

        during = kid_of(new_token(issuer))
        kids = {key["kid"] for key in published(server)}

    assert during == before
    assert len(kids - {before}) >= 1 and before in kids
    new = [line for line in server.cli("keys", "list").stdout.splitlines() if "next, signs from" in line]
    assert new and new[-1].split()[0] in kids


def test_the_mcp_server_takes_tokens_of_both_keys_after_a_rotation(
    stack: tuple[AuthorizationServer, int], issuer: Issuer, tmp_path_factory: pytest.TempPathFactory
):
    """RFC 9068 §4: the old key keeps verifying; the new kid makes the MCP server fetch the keys again."""
    server, mcp_port = stack
    mcp = start_mcp_server(tmp_path_factory.mktemp("keys_mcp"), mcp_port, issuer.url)
    try:
        before = new_token(issuer)
        first = post(mcp, token=before).status_code  # the MCP server fetches the keys now
        fetched = time.monotonic()
        server.cli("keys", "rotate")
        after = token_after_rotation(issuer)
        # The MCP server is a process of its own that refetches at most every 5 s (REFETCH_INTERVAL, no option
        # lowers it) and tells nobody when it may again: nothing to wait on but its clock.
        time.sleep(max(0.0, fetched + JwtVerifier.REFETCH_INTERVAL + 0.1 - time.monotonic()))

        statuses = [first, post(mcp, token=after).status_code, post(mcp, token=before).status_code]
    finally:
        mcp.program.stop()

    assert statuses == [200, 200, 200], statuses


def test_keys_list_shows_the_current_key_and_until_when_the_old_one_stays(stack: tuple[AuthorizationServer, int]):
    """The old key stays published for the access token lifetime (900 s) plus a 60 s margin."""
    server, _ = stack
    server.cli("keys", "rotate")  # the command line's own --cache-check-interval, 1 s: signs 2 s after

    lines = server.cli("keys", "list").stdout.splitlines()
    with clock.frozen(datetime.now(UTC) + timedelta(seconds=3)):
        later = server.cli("keys", "list").stdout.splitlines()

    created = datetime.strptime(lines[-1].split("created ")[1][:19], "%Y-%m-%d %H:%M:%S")
    signs_from = (created + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert lines[-1].endswith(f"next, signs from {signs_from} UTC") and lines[-2].endswith("current")
    until = (created + timedelta(seconds=2 + 960)).strftime("%Y-%m-%d %H:%M:%S")
    assert later[-1].endswith("current") and later[-2].endswith(f"published until {until} UTC")


def test_a_key_whose_tokens_have_all_expired_is_no_longer_published(
    stack: tuple[AuthorizationServer, int], issuer: Issuer
):
    """RFC 7517: a key retires once its successor is older than the token lifetime plus the margin."""
    # Two keys written as if made hours ago: the older one's successor is two hours old, so all its
    # tokens expired long ago; the younger one's successor is the server's own, made minutes ago.
    server, _ = stack
    retired, retiring = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    with closing(sqlite3.connect(server.db, timeout=5, isolation_level=None)) as db:
        for key, age in ((retired, timedelta(hours=3)), (retiring, timedelta(hours=2))):
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            db.execute(
                "INSERT INTO signing_keys (kid, alg, private_key, created_at) VALUES (?, 'ES256', ?, ?)",
                (f"test-{age.seconds}", pem, (now - age).isoformat(timespec="microseconds")),
            )
        # Written behind the services' back: say so, as their writes do (issue 13, change_versions.py).
        db.execute("UPDATE change_versions SET version = version + 1 WHERE kind = 'signing_keys'")
    with keys_due_for_a_check():  # the server looks at the database at most once a second
        xs = {key["x"] for key in published(server)}
        listed = server.cli("keys", "list", "--cache-check-interval", str(CHECK_INTERVAL)).stdout
        [current] = [line for line in listed.splitlines() if line.endswith("current")]

    assert x_of(retired) not in xs
    assert x_of(retiring) in xs
    assert kid_of(new_token(issuer)) == current.split()[0]


def x_of(key: ec.EllipticCurvePrivateKey) -> str:
    return str(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)["x"])
