"""Several instances serving one issuer from one database (issue 13, docs/decisions/0046-several-instances.md).

Two authorization servers, each a process of its own on a loopback port, one issuer (the first's URL),
one database: any step of a flow may land on either. The instances are started by one fixture,
``pair``, from the database of the ``database`` fixture: a SQLite file here, which a PostgreSQL run
overrides with its URL. One module-scoped pair serves every test; the ``kill -9`` test comes last and
starts its victim again.
"""

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest

from mcp_authz.authorization_server.encryption import local_key
from mcp_authz.authorization_server.settings import Settings, from_options
from scripts.stack import UNLIMITED_RATES, AuthorizationServer, Program, free_port, start_instances
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD
from tests.authorization_server.flows import (
    PUBLIC_CLIENT,
    Code,
    Issuer,
    Registered,
    SignInForm,
    csrf_token,
    redirect_params,
)
from tests.authorization_server.test_consent_memory import approved, started
from tests.conftest import new_mcp_server_secret
from tests.postgresql import Databases
from tests.waiting import eventually

NOTES, RESOURCE, READ = "notes", "http://localhost:8111/mcp", "notes:read"
#: The instances' ``--cache-check-interval``: a rotated key signs from twice this after it was made.
CHECK_INTERVAL = 0.2
ADMIN = ("admin", "instances-admin-password")

Pair = tuple[AuthorizationServer, AuthorizationServer]


@pytest.fixture(name="database", scope="module")
def _database(tmp_path_factory: pytest.TempPathFactory, databases: Databases | None) -> Iterator[str]:
    """The database both instances use: a SQLite file, or on ``--engine postgresql`` a new PostgreSQL database."""
    if databases is None:
        yield str(tmp_path_factory.mktemp("instances_db") / "shared.sqlite3")
        return
    url = databases.new()
    yield url
    databases.drop(url)


@pytest.fixture(name="pair", scope="module")
def _pair(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Instances A and B of one issuer on ``database``, with the MCP server ``notes`` and the user alice."""
    options = ["--login-lockout-failures", "3", "--cache-check-interval", str(CHECK_INTERVAL)]
    options += ["--admin-username", ADMIN[0], "--admin-password", ADMIN[1]]
    a, b = start_instances(tmp_path_factory.mktemp("instances"), database, *options, env=UNLIMITED_RATES)
    try:
        a.cli("mcp-servers", "add", "--id", NOTES, "--resource", RESOURCE, "--scopes", "notes:read notes:write")
        a.cli("users", "add", ALICE, input=ALICE_PASSWORD + "\n")
        yield a, b
    finally:
        a.program.stop()
        b.program.stop()


def at(server: AuthorizationServer, http: httpx2.Client) -> Issuer:
    """The ``notes`` issuer, reached through this instance's port."""
    registration = f"{server.url}/api/v1/authz/clients/register/mcp/{NOTES}/latest"
    return Issuer(http, f"{server.url}/mcp/{NOTES}", registration, resource=RESOURCE)


def remembered_code(issuer: Issuer, client: Registered) -> Code:
    """An authorization whose consent is remembered and whose browser is signed in: straight to the code."""
    pkce, response = started(issuer, client, READ)
    return Code(redirect_params(response)["code"], pkce, client.redirect_uri)


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def published(server: AuthorizationServer) -> set[str]:
    return {key["kid"] for key in httpx2.get(f"{server.url}/jwks.json").json()["keys"]}


def at_once(*requests: Callable[[], httpx2.Response]) -> list[httpx2.Response]:
    """Send the requests from threads of their own, released together."""
    barrier = threading.Barrier(len(requests))

    def send(request: Callable[[], httpx2.Response]) -> httpx2.Response:
        barrier.wait()
        return request()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def test_each_step_of_a_flow_may_land_on_either_instance(pair: Pair, http: httpx2.Client):
    """Issue 13, "any step of a flow may land on any instance": register on A, /authorize + sign-in + consent
    on B (the browser's cookies work on both), token on A (OAuth 2.1 §4.1.3), refresh on B (§4.3), revoke on A
    (RFC 7009), introspect on B (RFC 7662); every answer names the one issuer (RFC 9207, RFC 9068)."""
    a, b = pair
    at_a, at_b = at(a, http), at(b, http)
    client = at_a.register()

    pkce, consent = started(at_b, client, READ)
    assert consent.headers["location"].endswith("/consent")
    url = str(httpx2.URL(at_b.url).join(consent.headers["location"]))
    allowed = http.post(url, data={"csrf_token": csrf_token(http.get(url)), "decision": "allow"})
    returned = redirect_params(allowed)
    tokens = at_a.exchange(client, Code(returned["code"], pkce, client.redirect_uri)).json()
    refreshed = at_b.refresh(client, tokens["refresh_token"]).json()
    secret = new_mcp_server_secret(a, NOTES)
    active = at_b.post_form(at_b.url + "/introspect", {"token": refreshed["access_token"]}, auth=(NOTES, secret))
    revoked = at_a.revoke(client, refreshed["refresh_token"])
    inactive = at_b.post_form(at_b.url + "/introspect", {"token": refreshed["access_token"]}, auth=(NOTES, secret))

    assert returned["iss"] == a.issuer_for(NOTES)
    assert jwt.decode(refreshed["access_token"], options={"verify_signature": False})["iss"] == a.issuer_for(NOTES)
    assert (active.json()["active"], revoked.status_code, inactive.json()) == (True, 200, {"active": False})


def test_a_code_redeemed_at_both_instances_at_once_has_exactly_one_winner(pair: Pair, http: httpx2.Client):
    """Issue 13, OAuth 2.1 §4.1.2 (codes single-use): over 20 trials, the same code sent to A and B at once
    is redeemed exactly once; the other gets invalid_grant."""
    a, b = pair
    client = at(a, http).register()
    approved(at(b, http), client, READ)
    outcomes = []
    with httpx2.Client(timeout=10) as first, httpx2.Client(timeout=10) as second:
        for _ in range(20):
            code = remembered_code(at(a, http), client)
            answers = at_once(
                partial(at(a, first).exchange, client, code), partial(at(b, second).exchange, client, code)
            )
            outcomes.append(sorted(answer.status_code for answer in answers))

    assert outcomes == [[200, 400]] * 20


def test_a_refresh_token_sent_to_both_instances_at_once_rotates_once(pair: Pair, http: httpx2.Client):
    """Issue 13, OAuth 2.1 §4.3.1 and decision 0018: the same refresh token at A and B at once rotates once;
    the later of the two is within the grace window and gets the same pair, whichever instance sealed it.
    Presented again once that pair was used, it is a reuse: its family is revoked."""
    a, b = pair
    at_a, at_b = at(a, http), at(b, http)
    client = at_a.register()
    refresh_token = at_a.exchange(client, approved(at_b, client, READ)).json()["refresh_token"]
    successors = []
    with httpx2.Client(timeout=10) as first, httpx2.Client(timeout=10) as second:
        for _ in range(10):
            answers = at_once(
                partial(at(a, first).refresh, client, refresh_token),
                partial(at(b, second).refresh, client, refresh_token),
            )
            assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
            successors.append({answer.json()["refresh_token"] for answer in answers})
            old, refresh_token = refresh_token, next(iter(successors[-1]))

    newest = at_b.refresh(client, refresh_token).json()["refresh_token"]
    reused = at_a.refresh(client, old)

    assert [len(successor) for successor in successors] == [1] * 10  # both answers carried the same token
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert at_b.refresh(client, newest).json()["error"] == "invalid_grant"  # the family is revoked


def test_a_login_lockout_is_reached_through_both_instances(pair: Pair, http: httpx2.Client):
    """Issue 13, OAuth 2.1 §7.2: the failures of one username from one address count together wherever they
    land: wrong passwords at A, B, A lock it on both (``--login-lockout-failures 3``)."""
    a, b = pair
    form = at(a, http).sign_in_form()
    username = "mallory-" + secrets.token_hex(4)  # unknown names are locked alike; alice stays usable
    on_b = SignInForm(form.url.replace(a.url, b.url), form.csrf_token)

    failures = [at(a, http).sign_in(f, username, "wrong password").status_code for f in (form, on_b, form)]
    locked = [at(a, http).sign_in(f, username, "wrong password") for f in (on_b, form)]

    assert failures == [200, 200, 200]
    assert [answer.status_code for answer in locked] == [429, 429]
    assert all(850 < int(answer.headers["retry-after"]) <= 900 for answer in locked)


def test_a_key_rotated_from_the_command_line_is_published_by_both_before_either_signs_with_it(
    pair: Pair, http: httpx2.Client
):
    """Issue 13, RFC 7517 §5, RFC 9068 §4: after `keys rotate`, every token either instance signs names a key
    that both instances' JWK Sets already publish, until both sign with the new key."""
    a, b = pair
    client = at(a, http).register()
    refresh_token = at(a, http).exchange(client, approved(at(b, http), client, READ)).json()["refresh_token"]
    rotated = a.cli("keys", "rotate", "--cache-check-interval", str(CHECK_INTERVAL)).stdout
    new_kid = rotated.split()[3]  # "new signing key KID (ES256) is published; ..."
    seen: dict[str, set[str]] = {a.url: set(), b.url: set()}
    unpublished = []
    deadline = time.monotonic() + 10
    while not all(new_kid in kids for kids in seen.values()) and time.monotonic() < deadline:
        for server in (a, b):
            answer = at(server, http).refresh(client, refresh_token).json()
            refresh_token, kid = answer["refresh_token"], kid_of(answer["access_token"])
            seen[server.url].add(kid)
            if not all(kid in published(instance) for instance in (a, b)):
                unpublished.append((server.url, kid))

    assert unpublished == []
    assert all(new_kid in kids for kids in seen.values()), seen


def test_a_client_blocked_from_the_command_line_is_refused_at_both_at_once(pair: Pair, http: httpx2.Client):
    """Issue 13, "a client blocked ... every instance sees it within a documented bound": clients are read
    from the database on every request, so the bound is zero; OAuth 2.1 §3.2.4 invalid_client at A and B."""
    a, b = pair
    client = at(a, http).register()
    refresh_token = at(a, http).exchange(client, approved(at(b, http), client, READ)).json()["refresh_token"]

    a.cli("clients", "block", client.client_id)

    answers = [at(server, http).refresh(client, refresh_token) for server in (b, a)]
    assert [(answer.status_code, answer.json()["error"]) for answer in answers] == [(401, "invalid_client")] * 2


def test_a_client_deleted_on_one_instance_is_refused_at_the_other_at_once(pair: Pair, http: httpx2.Client):
    """Issue 13, "a client ... deleted: every instance sees it within a documented bound" (docs/deployment.md:
    none, clients are not cached): `clients delete` through A's settings, B answers invalid_client (OAuth 2.1
    §3.2.4) to the client's refresh and to a new authorization request's registration lookup."""
    a, b = pair
    client = at(a, http).register()
    refresh_token = at(a, http).exchange(client, approved(at(b, http), client, READ)).json()["refresh_token"]

    a.cli("clients", "delete", client.client_id)

    refreshed = at(b, http).refresh(client, refresh_token)
    assert (refreshed.status_code, refreshed.json()["error"]) == (401, "invalid_client")


def test_a_consent_revoked_on_one_instance_is_gone_at_the_other_at_once(pair: Pair, http: httpx2.Client):
    """Issue 13, "a consent revoked: every instance sees it within a documented bound" (none: consents are
    read on every request): Revoke on A's Connected apps page; at B the refresh token is dead (invalid_grant,
    OAuth 2.1 §4.3) and the next authorization asks for consent again."""
    a, b = pair
    client = at(b, http).register()
    refresh_token = at(b, http).exchange(client, approved(at(b, http), client, READ)).json()["refresh_token"]
    apps = a.url + "/account/apps"
    chosen = {"client_id": client.client_id, "mcp_server_id": NOTES}
    form = {"csrf_token": csrf_token(http.get(apps + "/revoke", params=chosen))} | chosen  # the confirmation

    revoked = http.post(apps, data=form)

    assert (revoked.status_code, revoked.headers["location"]) == (303, "/account/apps?revoked=1")
    refreshed = at(b, http).refresh(client, refresh_token)
    assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")
    _, again = started(at(b, http), client, READ)
    assert again.headers["location"].endswith("/consent")


def test_an_mcp_server_changed_or_removed_on_one_instance_is_seen_by_the_other_within_the_interval(pair: Pair):
    """Issue 13, "an MCP server ... every instance sees it within a documented bound": B's cache follows
    ``change_versions`` every ``--cache-check-interval`` (0.2 s here): a new server is found at once (a miss
    looks again), a change of its scopes and its removal through A show in B's RFC 8414 metadata soon after."""
    a, b = pair
    metadata = f"{b.url}/.well-known/oauth-authorization-server/mcp/scratch"
    a.cli("mcp-servers", "add", "--id", "scratch", "--resource", "http://localhost:8112/mcp", "--scopes", "s:one")

    assert "s:two" not in httpx2.get(metadata).json()["scopes_supported"]

    a.cli("mcp-servers", "update", "scratch", "--scopes", "s:one s:two")
    eventually(lambda: "s:two" in httpx2.get(metadata).json()["scopes_supported"], patience=10)
    a.cli("mcp-servers", "remove", "scratch")
    eventually(lambda: httpx2.get(metadata).status_code == 404, patience=10)


def test_an_admin_console_session_started_on_one_instance_works_on_the_other(pair: Pair):
    """Issue 13, decision 0041: the console's sessions live in the database; signed in on A, the admin's
    cookie opens the console on B, and signing out on B ends it on A."""
    a, b = pair
    with httpx2.Client(follow_redirects=False, timeout=10) as browser:
        page = browser.get(f"{a.url}/admin/sign-in")
        form = {"csrf_token": csrf_token(page), "username": ADMIN[0], "password": ADMIN[1]}
        signed_in = browser.post(f"{a.url}/admin/sign-in", data=form)
        on_b = browser.get(f"{b.url}/admin/clients", headers={"accept": "text/html"})
        signed_out = browser.post(f"{b.url}/admin/sign-out", data={"csrf_token": csrf_token(on_b)})
        on_a = browser.get(f"{a.url}/admin/clients", headers={"accept": "text/html"})

    assert signed_in.status_code == 303
    assert on_b.status_code == 200 and "Sign out" in on_b.text
    assert signed_out.status_code == 303
    assert (on_a.status_code, on_a.headers["location"]) == (303, "/admin/sign-in")


def test_killing_one_instance_under_load_loses_nothing_acknowledged(pair: Pair, http: httpx2.Client):
    """Issue 13: `kill -9` of B while flows run on both; A keeps serving, and every token response either
    instance acknowledged (200) holds: its refresh token works afterwards (nothing acknowledged lost)."""
    a, b = pair
    client = at(a, http).register()
    approved(at(a, http), client, READ)
    acknowledged: list[str] = []
    after_kill: list[int] = []
    killed = threading.Event()
    stop = threading.Event()

    def load() -> None:
        with httpx2.Client(follow_redirects=False, timeout=10, cookies=http.cookies) as browser:
            turn = 0
            while not stop.is_set():
                server = (a, b)[turn % 2]
                turn += 1
                try:
                    code = remembered_code(at(server, browser), client)
                    answer = at(server, browser).exchange(client, code)
                except (httpx2.TransportError, AssertionError, KeyError):
                    continue  # B is gone: its requests fail, and nothing of theirs was acknowledged
                if answer.status_code == 200:
                    acknowledged.append(answer.json()["refresh_token"])
                    if killed.is_set() and server is a:
                        after_kill.append(answer.status_code)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        wait_for(lambda: len(acknowledged) >= 10)
        assert isinstance(b.program, Program) and b.program.process is not None
        process = b.program.process
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed.set()
        wait_for(lambda: len(after_kill) >= 10)
    finally:
        stop.set()
        worker.join()
        b.program.start()  # for whatever runs after

    refreshed = [at(a, http).refresh(client, token).status_code for token in acknowledged]
    assert refreshed == [200] * len(acknowledged)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_workers_serve_one_port_and_a_worker_that_dies_is_replaced(tmp_path_factory: pytest.TempPathFactory):
    """Issue 13, ``--workers N``: N processes forked from one accept on one port, on one SQLite file (BEGIN
    IMMEDIATE serialises their writes, busy_timeout waits); a worker killed is replaced, SIGINT stops all."""
    workdir = tmp_path_factory.mktemp("workers")
    port = free_port()
    env = {"AS_KEY_ENCRYPTION_KEY": local_key(workdir / "key_encryption_key"), **UNLIMITED_RATES}
    args = ["-m", "authorization_server", "--port", str(port), "--db", str(workdir / "as.sqlite3"), "--workers", "2"]
    server = Program(args, workdir / "as.log", f"http://127.0.0.1:{port}/health/alive", env).start()
    assert server.process is not None
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: len(workers_of(server.process.pid)) == 2)
        first = workers_of(server.process.pid)
        registered = [httpx2.post(f"{url}/register", json=PUBLIC_CLIENT).status_code for _ in range(6)]
        os.kill(first[0], signal.SIGKILL)
        wait_for(lambda: len(workers_of(server.process.pid)) == 2 and first[0] not in workers_of(server.process.pid))
        after = [httpx2.post(f"{url}/register", json=PUBLIC_CLIENT).status_code for _ in range(6)]
    finally:
        server.stop()

    assert registered == after == [201] * 6
    assert server.process.returncode == 0
    assert "starting another" in server.log()


def workers_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"workers": 0}, "workers must be positive"),
        ({"cache_check_interval": 0.0}, "cache_check_interval must be positive"),
        ({"cache_check_interval": 61.0}, "cache_check_interval must be at most 60 seconds"),
        ({"workers": 2, "metrics_port": 9464}, "metrics_port counts one process"),
        ({"workers": 2, "demo": True}, "demo mode runs one process"),
    ],
)
def test_a_bad_instance_setting_stops_the_server_with_one_line(values: dict[str, Any], says: str):
    """Issue 13: --workers and --cache-check-interval are checked like every other setting (settings.py)."""
    with pytest.raises(ValueError, match=says):
        Settings(**values).check()


def test_the_cache_check_interval_takes_a_fraction_of_a_second_from_each_source(tmp_path: Path):
    """Issue 13: the first setting that is not a whole number, as an option, a variable and in the file."""
    config = tmp_path / "as.toml"
    config.write_text("cache_check_interval = 2\n")

    assert from_options(["--config", str(config)], {}).cache_check_interval == 2.0
    assert from_options([], {"AS_CACHE_CHECK_INTERVAL": "0.5"}).cache_check_interval == 0.5
    assert from_options(["--cache-check-interval", "0.25"], {}).key_activation_delay.total_seconds() == 0.5
