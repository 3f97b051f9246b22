"""Concurrent client load on one authorization server in demo mode, keeping what it acknowledged.

Each worker repeats what an MCP client does: register through the MCP endpoint, authorize
(demo mode answers the code at once), redeem the code, refresh. Every answer the server gave is
written down: the registrations it answered 201, the refresh tokens it answered 200, and the
codes it issued whose redemption never got an answer. After a crash, :func:`check` asks the
restarted server whether it kept its word (issue 6, reliability).
"""

import hashlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2

from mcp_authz.shared.pkce import new_verifier, s256_challenge

CALLBACK = "http://127.0.0.1:8765/callback"
CLIENT = {
    "client_name": "Load client",
    "redirect_uris": [CALLBACK],
    "grant_types": ["authorization_code", "refresh_token"],
    "token_endpoint_auth_method": "none",
}


def authorization_query(client_id: str, verifier: str, state: str) -> dict[str, str]:
    """An authorization request (OAuth 2.1 §4.1.1) with PKCE S256 (RFC 7636 §4.3), back to :data:`CALLBACK`."""
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "code_challenge": s256_challenge(verifier),
        "code_challenge_method": "S256",
        "state": state,
    }


@dataclass
class Acknowledged:
    """What the server answered while the load ran. Never printed: it holds live tokens."""

    client_ids: list[str] = field(default_factory=list)
    #: client_id -> its latest refresh token (each refresh rotates it).
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    #: Clients whose last refresh was sent but never answered: their token may have been rotated.
    refreshing: set[str] = field(default_factory=set)
    #: (client_id, code, verifier) of codes issued whose redemption got no answer.
    pending_codes: set[tuple[str, str, str]] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def status(self, response: httpx2.Response) -> httpx2.Response:
        with self.lock:
            self.statuses[response.status_code] += 1
        return response

    def acknowledge(self, client_id: str, refresh_token: str) -> None:
        with self.lock:
            self.refresh_tokens[client_id] = refresh_token

    @contextmanager
    def unanswered(self, pending: set[Any], item: Any) -> Iterator[None]:
        """``item`` is in ``pending`` while its request waits, and stays there if no answer comes."""
        with self.lock:
            pending.add(item)
        yield
        with self.lock:
            pending.discard(item)


@dataclass(frozen=True)
class Target:
    """The authorization server under load and the MCP server (issuer) its clients use."""

    url: str
    mcp_server_id: str = "demo"

    @property
    def issuer(self) -> str:
        return f"{self.url}/mcp/{self.mcp_server_id}"

    @property
    def registration_endpoint(self) -> str:
        return f"{self.url}/api/v1/authz/clients/register/mcp/{self.mcp_server_id}/latest"


def one_flow(http: httpx2.Client, target: Target, seen: Acknowledged, refreshes: int = 1) -> None:
    """Register, authorize, redeem, refresh; every acknowledged step is recorded as it is answered."""
    registered = seen.status(http.post(target.registration_endpoint, json=CLIENT))
    if registered.status_code != 201:
        return
    client_id = registered.json()["client_id"]
    with seen.lock:
        seen.client_ids.append(client_id)
    verifier = new_verifier()
    query = authorization_query(client_id, verifier, "load")
    authorized = seen.status(http.get(target.issuer + "/authorize", params=query))
    code = dict(parse_qsl(urlsplit(authorized.headers.get("location", "")).query)).get("code")
    if code is None:
        return
    with seen.unanswered(seen.pending_codes, (client_id, code, verifier)):
        tokens = seen.status(redeem(http, target, client_id, code, verifier))
    for _ in range(refreshes):
        if tokens.status_code != 200:
            return
        refresh_token = tokens.json()["refresh_token"]
        seen.acknowledge(client_id, refresh_token)
        # A refresh whose answer is lost may still have rotated the token: such a client is
        # checked as "maybe rotated" rather than "must refresh".
        with seen.unanswered(seen.refreshing, client_id):
            tokens = seen.status(refresh(http, target, client_id, refresh_token))
    if tokens.status_code == 200:
        seen.acknowledge(client_id, tokens.json()["refresh_token"])


def redeem(http: httpx2.Client, target: Target, client_id: str, code: str, verifier: str) -> httpx2.Response:
    form = {"grant_type": "authorization_code", "client_id": client_id, "code": code, "code_verifier": verifier}
    return http.post(target.issuer + "/token", data={**form, "redirect_uri": CALLBACK})


def refresh(http: httpx2.Client, target: Target, client_id: str, refresh_token: str) -> httpx2.Response:
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    return http.post(target.issuer + "/token", data=form)


def run(target: Target, *, workers: int, flows: int | None = None) -> Acknowledged:
    """``workers`` threads each run ``flows`` flows (without end if ``None``), or until the server dies."""
    seen = Acknowledged()

    def worker() -> None:
        with httpx2.Client(timeout=30, follow_redirects=False) as http:
            done = 0
            while flows is None or done < flows:
                try:
                    one_flow(http, target, seen)
                except httpx2.TransportError:
                    return  # the server is gone: what it acknowledged so far is recorded
                done += 1

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    return seen


@dataclass
class Verdict:
    """What a restarted server still knows of what it acknowledged before the crash."""

    integrity: str
    missing_clients: int
    missing_refresh_tokens: int
    #: Outcome of refreshing each acknowledged refresh token, and of redeeming each half-way code.
    refreshes: Counter[str]
    maybe_rotated: Counter[str]
    pending_codes: Counter[str]

    @property
    def ok(self) -> bool:
        clear = {"200", "400 invalid_grant"}
        return (
            self.integrity == "ok"
            and not (self.missing_clients or self.missing_refresh_tokens)
            and set(self.refreshes) <= {"200"}
            and set(self.maybe_rotated) | set(self.pending_codes) <= clear
        )


def check(target: Target, db: Path, seen: Acknowledged) -> Verdict:
    """Integrity; every acknowledged registration and refresh token present and usable; every
    half-way flow finished with tokens or a clear ``invalid_grant``."""
    with closing(sqlite3.connect(db, timeout=10)) as connection:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        clients = {row[0] for row in connection.execute("SELECT client_id FROM clients")}
        token_hashes = {row[0] for row in connection.execute("SELECT token_hash FROM refresh_tokens")}
    acknowledged = [hashlib.sha256(token.encode()).hexdigest() for token in seen.refresh_tokens.values()]
    refreshes: Counter[str] = Counter()
    maybe_rotated: Counter[str] = Counter()
    with httpx2.Client(timeout=30) as http:
        for client_id, token in seen.refresh_tokens.items():
            answer = outcome(refresh(http, target, client_id, token))
            (maybe_rotated if client_id in seen.refreshing else refreshes)[answer] += 1
        codes = Counter(outcome(redeem(http, target, *pending)) for pending in seen.pending_codes)
    return Verdict(
        integrity,
        missing_clients=len(set(seen.client_ids) - clients),
        missing_refresh_tokens=len(set(acknowledged) - token_hashes),
        refreshes=refreshes,
        maybe_rotated=maybe_rotated,
        pending_codes=codes,
    )


def outcome(response: httpx2.Response) -> str:
    if response.status_code == 200:
        return "200"
    try:
        return f"{response.status_code} {response.json()['error']}"
    except ValueError:
        return str(response.status_code)
