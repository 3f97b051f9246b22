"""The steps a client takes against a running authorization server, shared by the tests.

Each helper sends what a spec-following client sends, over HTTP, and hands back either the raw
response (for the test to assert on) or the value the next step needs. Nothing here asserts
more than "this step worked", so a test that expects a failure calls the raw step instead.
"""

import base64
import hashlib
import re
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import jwt

from tests.postgresql import pg_execute, pg_rows

#: A request parameter: ``None`` leaves it out, a list sends it once per value.
Param = str | list[str] | None

#: Where the test clients say they listen; in demo mode nothing ever follows the redirect.
CALLBACK = "http://127.0.0.1:8765/callback"

#: The steps a journey records through a whole demo-mode flow, registration to tokens (seed 000).
DEMO_FLOW_STEPS = [
    "registered",
    "authorization_requested",
    "user_authenticated",
    "consent_given",
    "code_issued",
    "code_redeemed",
]

#: What an MCP client registers with: a public client (PKCE only) that may refresh.
PUBLIC_CLIENT: dict[str, Any] = {
    "client_name": "Test client",
    "redirect_uris": [CALLBACK],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
}


@dataclass(frozen=True)
class Pkce:
    """A code verifier and its S256 challenge (RFC 7636 §4.1, §4.2), computed here by hand."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> "Pkce":
        verifier = secrets.token_urlsafe(32)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


@dataclass(frozen=True)
class Registered:
    """A client as the registration response described it (RFC 7591 §3.2.1)."""

    info: dict[str, Any]

    @property
    def client_id(self) -> str:
        return str(self.info["client_id"])

    @property
    def client_secret(self) -> str | None:
        return self.info.get("client_secret")

    @property
    def redirect_uri(self) -> str:
        return str(self.info["redirect_uris"][0])

    @property
    def auth_method(self) -> str:
        return str(self.info["token_endpoint_auth_method"])


@dataclass(frozen=True)
class Code:
    """An authorization code and what its redemption must repeat."""

    value: str
    pkce: Pkce
    redirect_uri: str


@dataclass(frozen=True)
class SignInForm:
    """The sign-in page of one interaction: where it posts, and its CSRF token."""

    url: str
    csrf_token: str


@dataclass(frozen=True)
class Issuer:
    """One issuer of a running authorization server, driven the way a client drives it."""

    http: httpx2.Client
    url: str
    registration_endpoint: str
    #: The MCP server whose tokens this issuer mints; ``None`` at the root issuer.
    resource: str | None = None

    @property
    def authorization_endpoint(self) -> str:
        return self.url + "/authorize"

    @property
    def token_endpoint(self) -> str:
        return self.url + "/token"

    @property
    def revocation_endpoint(self) -> str:
        return self.url + "/revoke"

    # Registration (RFC 7591 §3.1) --------------------------------------------------------------

    def register(self, **metadata: Any) -> Registered:
        """Register a public MCP client; ``metadata`` replaces fields of :data:`PUBLIC_CLIENT`."""
        response = self.http.post(self.registration_endpoint, json={**PUBLIC_CLIENT, **metadata})
        assert response.status_code == 201, response.text
        return Registered(response.json())

    # Authorization request (OAuth 2.1 §4.1.1) --------------------------------------------------

    def authorization_query(self, client: Registered, pkce: Pkce, /, **params: Param) -> dict[str, str | list[str]]:
        """The query of an authorization request: ``None`` leaves a parameter out, a list repeats it."""
        query: dict[str, Param] = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
            "state": "st-" + secrets.token_urlsafe(8),
            "resource": self.resource,
            **params,
        }
        return {name: value for name, value in query.items() if value is not None}

    def authorize(self, client: Registered, pkce: Pkce | None = None, /, **params: Param) -> httpx2.Response:
        """``GET /authorize`` with the parameters of :meth:`authorization_query`."""
        return self.http.get(
            self.authorization_endpoint, params=self.authorization_query(client, pkce or Pkce.new(), **params)
        )

    def code(self, client: Registered, /, **params: Param) -> Code:
        """In demo mode: authorize and read the code from the redirect back to the client."""
        pkce = Pkce.new()
        query = self.authorization_query(client, pkce, **params)
        response = self.http.get(self.authorization_endpoint, params=query)
        assert response.status_code == 303, response.text
        returned = redirect_params(response)
        assert "code" in returned, returned
        return Code(returned["code"], pkce, str(query["redirect_uri"]))

    # Sign-in page (OAuth 2.1 §3.1), posted as a browser would, without one --------------------

    def sign_in_form(self) -> "SignInForm":
        """Start an authorization for a new client; ``http`` keeps the browser cookie, as a browser would."""
        started = self.authorize(self.register())
        assert started.status_code == 303, started.text
        url = str(httpx2.URL(self.url).join(started.headers["location"]))
        token = re.search(r'name="csrf_token" value="([^"]+)"', self.http.get(url).text)
        assert token is not None, "no CSRF token on the sign-in page"
        return SignInForm(url, token[1])

    def sign_in(self, form: "SignInForm", username: str, password: str) -> httpx2.Response:
        """Post the sign-in form with its CSRF token."""
        return self.http.post(
            form.url, data={"csrf_token": form.csrf_token, "username": username, "password": password}
        )

    # Token endpoint (OAuth 2.1 §3.2) -----------------------------------------------------------

    def post_token(self, form: dict[str, Param], **options: Any) -> httpx2.Response:
        """``POST /token`` with exactly this form: ``None`` leaves a field out, a list repeats it."""
        return self.post_form(self.token_endpoint, form, **options)

    def post_form(self, url: str, form: dict[str, Param], **options: Any) -> httpx2.Response:
        """``POST`` exactly this form to ``url``: ``None`` leaves a field out, a list repeats it."""
        fields = {name: value for name, value in form.items() if value is not None}
        return self.http.post(url, data=fields, **options)

    def exchange(self, client: Registered, issued: Code, /, **form: Param) -> httpx2.Response:
        """Redeem a code (OAuth 2.1 §4.1.3), authenticating with the client's registered method."""
        fields: dict[str, Param] = {
            "grant_type": "authorization_code",
            "code": issued.value,
            "code_verifier": issued.pkce.verifier,
            "redirect_uri": issued.redirect_uri,
            "resource": self.resource,
        }
        return self._as_client(client, {**fields, **form})

    def refresh(self, client: Registered, refresh_token: str, /, **form: Param) -> httpx2.Response:
        """Refresh (OAuth 2.1 §4.3), authenticating with the client's registered method."""
        return self._as_client(client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **form})

    def revoke(self, client: Registered, token: str, /, **form: Param) -> httpx2.Response:
        """Revoke a token (RFC 7009 §2.1), authenticating as at the token endpoint."""
        return self._as_client(client, {"token": token, **form}, self.revocation_endpoint)

    def tokens(self, client: Registered, /, **params: Param) -> dict[str, Any]:
        """A whole demo-mode flow for a registered client: the token response."""
        response = self.exchange(client, self.code(client, **params))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def _as_client(self, client: Registered, form: dict[str, Param], url: str | None = None) -> httpx2.Response:
        """OAuth 2.1 §2.4.1: Basic credentials, or the id (and secret) in the body; to /token by default."""
        url = url or self.token_endpoint
        if client.auth_method == "client_secret_basic":
            assert client.client_secret is not None
            return self.post_form(url, form, auth=(client.client_id, client.client_secret))
        credentials: dict[str, Param] = {"client_id": client.client_id}
        if client.auth_method == "client_secret_post":
            credentials["client_secret"] = client.client_secret
        return self.post_form(url, {**credentials, **form})


def csrf_token(page: httpx2.Response) -> str:
    """The CSRF token of a sign-in or consent page's form, as a browser would post it back."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def redirect_params(response: httpx2.Response) -> dict[str, str]:
    """The query parameters of a redirect's ``Location``; each must appear exactly once."""
    pairs = parse_qsl(urlsplit(response.headers["location"]).query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"a parameter appears twice: {names}"
    return dict(pairs)


def redirect_target(response: httpx2.Response) -> str:
    """Where a redirect sends the browser, without its query."""
    parts = urlsplit(response.headers["location"])
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def claims(token: str) -> dict[str, Any]:
    """The claims of an access token, read without checking it (the RFC 9068 tests check it)."""
    return dict(jwt.decode(token, options={"verify_signature": False}))


def rows(db: Path | str, sql: str, *params: object) -> list[sqlite3.Row]:
    """Rows of the authorization server's database, read as the operator would (sqlite3, or asyncpg on PostgreSQL)."""
    if isinstance(db, str):
        return pg_rows(db, sql, *params)  # type: ignore[return-value]  # read by name and position alike
    with closing(sqlite3.connect(db, timeout=5)) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute(sql, params).fetchall()


def execute(db: Path | str, sql: str, *params: object) -> None:
    """Change the authorization server's database as the operator could (sqlite3), e.g. to age a row."""
    if isinstance(db, str):
        pg_execute(db, sql, *params)
        return
    with closing(sqlite3.connect(db, timeout=5)) as connection:
        connection.execute(sql, params)
        connection.commit()


def journey_of(db: Path, client_id: str) -> sqlite3.Row:
    """The one journey of a client, joined to its MCP authorization flow.

    Until a signed-in user approves an authorization, the journey its MCP registration started
    waits beside the authorization's own (issue 11); then only the authorization's is counted.
    """
    found = rows(
        db,
        "SELECT j.*, f.id AS flow_id, f.mcp_server_id, f.mcp_server_version, f.client_id"
        " FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
        " WHERE f.client_id = ?",
        client_id,
    )
    if len(found) > 1:
        found = [row for row in found if row["status"] != "registered"]
    assert len(found) == 1, [dict(row) for row in found]
    return found[0]


def steps(db: Path, journey_id: str) -> list[str]:
    """The steps a journey recorded, in order."""
    return [
        row["step"] for row in rows(db, "SELECT step FROM journey_events WHERE journey_id = ? ORDER BY id", journey_id)
    ]
