"""Issue 4: the downstream authorization after consent, its tokens sealed at rest, and RFC 8693
token exchange, against real processes: a third-party provider (a second authorization server of
ours, at 127.0.0.1), the profile API it protects, our authorization server with a connection to
it, and the reference MCP server with its ``downstream_profile`` tool."""

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest

from mcp_authz.authorization_server.encryption import Sealer, Undecryptable, new_key, parse_key
from scripts.stack import (
    PROFILE_CONNECTION,
    PROVIDER_SECRET_ENV,
    ROOT,
    AuthorizationServer,
    DownstreamProvider,
    McpServer,
    connect_downstream,
    free_port,
    start_downstream_provider,
    start_mcp_server,
)
from tests.authorization_server.conftest import ALICE, ALICE_PASSWORD, mcp_issuer
from tests.authorization_server.flows import (
    CALLBACK,
    Code,
    Issuer,
    Pkce,
    Registered,
    csrf_token,
    execute,
    journey_of,
    redirect_params,
    rows,
    steps,
)
from tests.conftest import new_mcp_server_secret
from tests.set_up import set_up_then_serve

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
#: The key our authorization server seals downstream tokens with (AS_DOWNSTREAM_TOKEN_KEY).
KEY = new_key()
#: The steps of a journey whose MCP server has one connection, registration to tokens.
DOWNSTREAM_FLOW_STEPS = [
    "registered",
    "authorization_requested",
    "user_authenticated",
    "consent_given",
    "downstream_flow_started",
    "downstream_flow_completed",
    "code_issued",
    "code_redeemed",
]


#: The MCP servers of ``stack``'s server, each with its connection to the provider.
MCP_SERVERS = ("demo", "other")


@dataclass
class Stack:
    ours: AuthorizationServer
    provider: DownstreamProvider
    mcp: McpServer
    #: The credentials of the demo and the other MCP server at ``ours`` (RFC 7662 §2.1, RFC 8693 §2.1).
    secrets: dict[str, str]
    #: The ``profile`` connection of each MCP server.
    connections: dict[str, str]
    other_resource: str

    def logs(self) -> str:
        programs = [self.ours.program, self.provider.authorization_server.program, self.provider.api, self.mcp.program]
        return "\n".join(program.log() for program in programs)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Demo mode everywhere: the provider and our server approve by themselves."""
    workdir = tmp_path_factory.mktemp("downstream")
    as_port, mcp_port = free_port(), free_port()
    provider = start_downstream_provider(
        workdir / "provider", callback_url=f"http://localhost:{as_port}/downstream/callback"
    )
    try:
        env = {PROVIDER_SECRET_ENV: provider.client_secret, "AS_DOWNSTREAM_TOKEN_KEY": KEY}

        def set_up(server: AuthorizationServer) -> tuple[str, dict[str, str], dict[str, str]]:
            other_resource = f"http://localhost:{free_port()}/other-mcp"
            server.cli("mcp-servers", "add", "--id", "other", "--resource", other_resource, "--scopes", "o")
            connections = {mcp_server: connect_downstream(server, provider, mcp_server) for mcp_server in MCP_SERVERS}
            return (
                other_resource,
                connections,
                {mcp_server: new_mcp_server_secret(server, mcp_server) for mcp_server in MCP_SERVERS},
            )

        # The server reads the provider's secret from its own environment: a program, set up in-process.
        ours, (other_resource, connections, secrets) = set_up_then_serve(
            workdir, set_up, port=as_port, mcp_port=mcp_port, env=env
        )
        try:
            api = ("--downstream-api", provider.api_url)
            mcp = start_mcp_server(
                workdir, mcp_port, ours.issuer_for("demo"), *api, env={"MCP_CLIENT_SECRET": secrets["demo"]}
            )
            yield Stack(ours, provider, mcp, secrets, connections, other_resource)
            mcp.program.stop()
        finally:
            ours.program.stop()
    finally:
        provider.stop()


@pytest.fixture(name="demo")
def _demo(stack: Stack, http: httpx2.Client) -> Issuer:
    return mcp_issuer(http, stack.ours, "demo", stack.mcp.url)


@pytest.fixture(name="other")
def _other(stack: Stack, http: httpx2.Client) -> Issuer:
    return mcp_issuer(http, stack.ours, "other", stack.other_resource)


@dataclass(frozen=True)
class Authorized:
    """What the browser saw on the way: the redirects before the one back to the client."""

    code: Code
    #: The state the MCP client sent.
    state: str
    hops: list[str]
    returned: dict[str, str]


def to_client(http: httpx2.Client, response: httpx2.Response) -> tuple[httpx2.Response, list[str]]:
    """Follow 303s, as a browser does, until one goes back to the MCP client's redirect URI."""
    hops = []
    while response.status_code == 303 and not response.headers["location"].startswith(CALLBACK):
        hops.append(str(response.url.join(response.headers["location"])))
        response = http.get(hops[-1])
    return response, hops


def authorize(issuer: Issuer, client: Registered) -> Authorized:
    """A whole authorization in demo mode, through the downstream provider; the code."""
    pkce = Pkce.new()
    query = issuer.authorization_query(client, pkce)
    response, hops = to_client(issuer.http, issuer.http.get(issuer.authorization_endpoint, params=query))
    assert response.status_code == 303, response.text
    returned = redirect_params(response)
    assert "code" in returned, returned
    return Authorized(Code(returned["code"], pkce, str(query["redirect_uri"])), str(query["state"]), hops, returned)


def tokens(issuer: Issuer, client: Registered) -> dict[str, Any]:
    response = issuer.exchange(client, authorize(issuer, client).code)
    assert response.status_code == 200, response.text
    return dict(response.json())


def exchange(stack: Stack, subject_token: str, *, server: str = "demo", **form: str | None) -> httpx2.Response:
    """RFC 8693 §2.1 at an MCP server's issuer, as that MCP server (``auth=None`` in ``form``: no credentials)."""
    fields: dict[str, str | None] = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "audience": PROFILE_CONNECTION,
        **form,
    }
    auth = (server, stack.secrets[server])
    return httpx2.post(
        f"{stack.ours.issuer_for(server)}/token",
        data={name: value for name, value in fields.items() if value is not None},
        auth=auth,
        timeout=10,
    )


def flow_of(db: Path, journey_id: str) -> sqlite3.Row:
    [flow] = rows(db, "SELECT * FROM downstream_authorization_flows WHERE journey_id = ?", journey_id)
    return flow


def sealer() -> Sealer:
    return Sealer(parse_key(KEY))


class TestDownstreamAuthorization:
    def test_after_consent_the_provider_authorizes_then_the_code_is_issued(self, stack: Stack, demo: Issuer):
        """Issue 4: one Downstream Authorization Flow per connection, stamped; the code only once it completed."""
        client = demo.register()

        authorized = authorize(demo, client)
        response = demo.exchange(client, authorized.code)

        assert response.status_code == 200, response.text
        journey = journey_of(stack.ours.db, client.client_id)
        assert journey["status"] == "active"
        assert steps(stack.ours.db, journey["id"]) == DOWNSTREAM_FLOW_STEPS
        flow = flow_of(stack.ours.db, journey["id"])
        assert (flow["mcp_connection_id"], flow["status"], flow["failure_reason"]) == (
            stack.connections["demo"],
            "completed",
            None,
        )
        assert flow["created_at"] <= flow["completed_at"] <= flow["updated_at"]
        assert flow["state_hash"] is None  # used up
        stamps = [
            row["at"]
            for row in rows(
                stack.ours.db, "SELECT at FROM journey_events WHERE journey_id = ? ORDER BY id", journey["id"]
            )
        ]
        assert stamps == sorted(stamps)
        assert (authorized.returned["state"], authorized.returned["iss"]) == (authorized.state, demo.url)

    def test_the_request_to_the_provider_is_pkce_s256_with_state_resource_and_an_exact_redirect(
        self, stack: Stack, demo: Issuer
    ):
        """Issue 4, OAuth 2.1 §4.1.1, RFC 7636 §4.3, RFC 8707: the AS is a careful client of the provider."""
        authorized = authorize(demo, demo.register())

        to_provider, back = authorized.hops[0], authorized.hops[1]
        query = dict(parse_qsl(urlsplit(to_provider).query))
        assert to_provider.startswith(f"{stack.provider.issuer}/authorize?")
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert len(query["state"]) >= 43
        assert query["redirect_uri"] == f"{stack.ours.url}/downstream/callback"
        assert (query["client_id"], query["resource"], query["scope"]) == (
            stack.provider.client_id,
            stack.provider.api_url,
            "mcp:read",
        )
        returned = dict(parse_qsl(urlsplit(back).query))
        assert back.startswith(f"{stack.ours.url}/downstream/callback?")
        assert (returned["state"], returned["iss"]) == (query["state"], stack.provider.issuer)

    def test_a_replayed_code_revokes_the_journey_and_its_downstream_token_exchange(self, stack: Stack, demo: Issuer):
        """OAuth 2.1 §4.1.3: a replayed code revokes what it issued; the exchange then refuses (RFC 8693 §2.2.2)."""
        client = demo.register()
        code = authorize(demo, client).code
        access_token = demo.exchange(client, code).json()["access_token"]

        replayed = demo.exchange(client, code)

        assert replayed.json()["error"] == "invalid_grant"
        journey = journey_of(stack.ours.db, client.client_id)
        assert journey["status"] == "revoked"
        assert steps(stack.ours.db, journey["id"]) == [*DOWNSTREAM_FLOW_STEPS, "code_replayed", "revoked"]
        refused = exchange(stack, access_token)
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")

    def test_a_refresh_keeps_the_downstream_token_of_the_journey(self, stack: Stack, demo: Issuer):
        """OAuth 2.1 §4.3: a refreshed MCP token keeps its journey, so it exchanges for the same user's token."""
        client = demo.register()
        first = tokens(demo, client)

        refreshed = demo.refresh(client, first["refresh_token"]).json()
        answer = exchange(stack, refreshed["access_token"])

        assert answer.status_code == 200, answer.text
        journey = journey_of(stack.ours.db, client.client_id)
        assert steps(stack.ours.db, journey["id"]) == [
            *DOWNSTREAM_FLOW_STEPS,
            "token_refreshed",
            "downstream_token_exchanged",
        ]


class TestHostileCallbacks:
    @pytest.mark.parametrize(
        "query",
        [
            {},
            {"code": "x"},
            {"state": "forged-state", "code": "x"},
            {"state": "forged-state", "error": "access_denied"},
            {"state": ["a", "b"]},
        ],
        ids=["nothing", "no-state", "forged-state", "forged-state-with-error", "two-states"],
    )
    def test_an_answer_that_names_no_waiting_journey_is_an_error_page(
        self, stack: Stack, http: httpx2.Client, query: dict[str, Any]
    ):
        """Issue 4, MCP-SBP confused deputy: a missing or unknown state is refused with a page, never a redirect."""
        response = http.get(f"{stack.ours.url}/downstream/callback", params=query)

        assert response.status_code == 400
        assert response.headers["content-type"].startswith("text/html")
        assert "location" not in response.headers

    def test_a_replayed_answer_is_refused(self, stack: Stack, demo: Issuer):
        """Issue 4: the state is single-use; the same answer again is an error page and changes nothing."""
        client = demo.register()
        authorized = authorize(demo, client)

        again = demo.http.get(authorized.hops[1])

        assert (again.status_code, "already used" in again.text) == (400, True)
        assert journey_of(stack.ours.db, client.client_id)["status"] == "code_issued"

    def test_a_journey_abandoned_at_the_downstream_provider_expires_and_its_late_answer_is_refused(
        self, stack: Stack, demo: Issuer
    ):
        """Issue 4 and issue 11 item 4: a person who never comes back from the downstream provider leaves the
        journey in downstream_authorization; past the state's lifetime the upkeep ends it as expired, stamped
        with where it was left, and the provider's late answer is an error page that issues no code."""
        client = demo.register()
        query = demo.authorization_query(client, Pkce.new())
        to_provider = demo.http.get(demo.authorization_endpoint, params=query)
        at_provider = demo.http.get(str(to_provider.url.join(to_provider.headers["location"])))
        assert at_provider.status_code == 303, at_provider.text
        late_answer = str(at_provider.url.join(at_provider.headers["location"]))
        journey = journey_of(stack.ours.db, client.client_id)
        assert journey["status"] == "downstream_authorization"
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        execute(
            stack.ours.db,
            "UPDATE authorization_journeys SET interaction_expires_at = ? WHERE id = ?",
            past,
            journey["id"],
        )

        stack.ours.cli("journeys", "cleanup")

        expired = journey_of(stack.ours.db, client.client_id)
        assert (expired["status"], expired["failure_reason"]) == (
            "expired",
            "abandoned at a downstream provider's authorization for longer than 600 s",
        )
        assert steps(stack.ours.db, journey["id"])[-1] == "expired"
        answer = demo.http.get(late_answer)
        assert answer.status_code == 400 and "location" not in answer.headers

    def test_an_answer_in_another_browser_is_refused_and_ends_the_journey(self, stack: Stack, demo: Issuer):
        """Issue 4: the answer must come back to the browser that started the journey (login CSRF)."""
        client = demo.register()
        to_provider = demo.http.get(demo.authorization_endpoint, params=demo.authorization_query(client, Pkce.new()))
        answer = demo.http.get(to_provider.headers["location"]).headers["location"]

        with httpx2.Client(follow_redirects=False) as other_browser:
            response = other_browser.get(answer)

        assert response.status_code == 400 and "another browser" in response.text
        journey = journey_of(stack.ours.db, client.client_id)
        assert (journey["status"], flow_of(stack.ours.db, journey["id"])["status"]) == ("failed", "failed")

    def test_a_provider_error_other_than_denial_fails_the_journey_with_server_error(self, stack: Stack, demo: Issuer):
        """OAuth 2.1 §4.1.2.1: the provider's error ends the journey; the client gets server_error, state, iss."""
        client = demo.register()
        query = demo.authorization_query(client, Pkce.new())
        to_provider = demo.http.get(demo.authorization_endpoint, params=query).headers["location"]
        state = dict(parse_qsl(urlsplit(to_provider).query))["state"]

        response = demo.http.get(
            f"{stack.ours.url}/downstream/callback",
            params={"state": state, "error": "temporarily_unavailable", "iss": stack.provider.issuer},
        )

        returned = redirect_params(response)
        assert (returned["error"], returned["state"], returned["iss"]) == ("server_error", query["state"], demo.url)
        journey = journey_of(stack.ours.db, client.client_id)
        flow = flow_of(stack.ours.db, journey["id"])
        assert (journey["status"], flow["status"]) == ("failed", "failed")
        assert flow["failure_reason"] == f"{PROFILE_CONNECTION} answered temporarily_unavailable"
        assert steps(stack.ours.db, journey["id"])[-2:] == ["downstream_flow_started", "downstream_flow_failed"]

    @pytest.mark.parametrize(
        ("answer", "reason"),
        [
            ({"iss": None}, "the answer has no iss, though the provider's metadata says it sends one"),
            ({"iss": None, "code": None, "error": "access_denied"}, "the answer has no iss"),
            ({"iss": "http://127.0.0.1:1/mcp/demo"}, "the answer names another issuer"),
        ],
        ids=["code-without-iss", "error-without-iss", "another-iss"],
    )
    def test_an_answer_without_the_promised_iss_is_refused_with_a_page_and_fails_the_journey(
        self, stack: Stack, demo: Issuer, answer: dict[str, str | None], reason: str
    ):
        """Issue 11 item 14, RFC 9207 §2.4: the provider's metadata says
        ``authorization_response_iss_parameter_supported``, so an answer without ``iss`` (or naming
        another issuer), code or error alike, is refused: a readable page, no redirect, no token
        request, the journey and its downstream flow ``failed`` with the reason."""
        assert httpx2.get(
            f"{stack.provider.authorization_server.url}/.well-known/oauth-authorization-server/mcp/demo"
        ).json()["authorization_response_iss_parameter_supported"]
        client = demo.register()
        to_provider = demo.http.get(demo.authorization_endpoint, params=demo.authorization_query(client, Pkce.new()))
        from_provider = urlsplit(demo.http.get(to_provider.headers["location"]).headers["location"])
        params: dict[str, str | None] = {**dict(parse_qsl(from_provider.query)), **answer}
        assert params.get("state")

        response = demo.http.get(
            from_provider._replace(query="").geturl(),
            params={name: value for name, value in params.items() if value is not None},
        )

        assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")
        assert "location" not in response.headers and "RFC 9207" in response.text
        journey = journey_of(stack.ours.db, client.client_id)
        flow = flow_of(stack.ours.db, journey["id"])
        assert (journey["status"], flow["status"]) == ("failed", "failed")
        assert flow["failure_reason"].startswith(f"{PROFILE_CONNECTION}: {reason}")
        assert flow["failure_reason"].endswith("(RFC 9207 §2.4)")
        assert steps(stack.ours.db, journey["id"])[-2:] == ["downstream_flow_started", "downstream_flow_failed"]


class TestTokenExchange:
    def test_the_mcp_server_gets_the_users_downstream_token(self, stack: Stack, demo: Issuer):
        """RFC 8693 §2.2.1: the user's access token at the provider, issued_token_type access_token, no-store."""
        access_token = tokens(demo, demo.register())["access_token"]

        answer = exchange(stack, access_token)

        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["issued_token_type"], body["token_type"]) == (ACCESS_TOKEN_TYPE, "Bearer")
        assert body["access_token"] != access_token
        assert answer.headers["cache-control"] == "no-store"
        profile = httpx2.get(stack.provider.api_url, headers={"Authorization": f"Bearer {body['access_token']}"})
        assert profile.status_code == 200 and profile.json()["issuer"] == stack.provider.issuer

    def test_the_connection_may_be_named_as_resource(self, stack: Stack, demo: Issuer):
        """RFC 8693 §2.1: ``resource`` names the target service as well as ``audience`` does."""
        access_token = tokens(demo, demo.register())["access_token"]

        answer = exchange(stack, access_token, audience=None, resource=stack.provider.api_url)

        assert answer.status_code == 200, answer.text

    def test_a_connection_of_another_mcp_server_is_an_invalid_target(self, stack: Stack, demo: Issuer):
        """Seed 000's rule at token exchange, RFC 8693 §2.2.2: another MCP server's connection is invalid_target."""
        access_token = tokens(demo, demo.register())["access_token"]

        answer = exchange(stack, access_token, audience=stack.connections["other"])

        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_target")
        assert "belongs to MCP server 'other'" in answer.json()["error_description"]

    def test_a_subject_token_of_another_audience_is_an_invalid_request(self, stack: Stack, demo: Issuer, other: Issuer):
        """RFC 8693 §2.2.2: a token issued for another MCP server is not this one's to exchange."""
        others_token = tokens(other, other.register())["access_token"]

        answer = exchange(stack, others_token)

        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")
        assert answer.json()["error_description"] == "subject_token is not a valid access token of this issuer"

    def test_a_subject_token_for_another_mcp_server_at_its_issuer_is_an_invalid_request(
        self, stack: Stack, demo: Issuer, other: Issuer
    ):
        """RFC 8693 §2.2.2, MCP-SBP token passthrough: the subject token's audience must be the caller."""
        others_token = tokens(other, other.register())["access_token"]

        answer = httpx2.post(
            f"{stack.ours.issuer_for('other')}/token",
            data={"grant_type": TOKEN_EXCHANGE, "subject_token": others_token,
                  "subject_token_type": ACCESS_TOKEN_TYPE, "audience": PROFILE_CONNECTION},
            auth=("demo", stack.secrets["demo"]),
        )  # fmt: skip

        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")
        assert answer.json()["error_description"] == "subject_token was issued for another MCP server"

    @pytest.mark.parametrize(
        "auth",
        [None, ("demo", "not-the-secret"), ("other", "not-the-secret")],
        ids=["no-credentials", "wrong-secret", "another-server-wrong-secret"],
    )
    def test_without_the_mcp_servers_credentials_it_is_invalid_client(
        self, stack: Stack, demo: Issuer, auth: tuple[str, str] | None
    ):
        """RFC 8693 §2.1, OAuth 2.1 §3.2.4: only an authenticated MCP server may exchange."""
        client = demo.register()
        access_token = tokens(demo, client)["access_token"]
        form = {"grant_type": TOKEN_EXCHANGE, "subject_token": access_token,
                "subject_token_type": ACCESS_TOKEN_TYPE, "audience": PROFILE_CONNECTION}  # fmt: skip
        if auth is None:
            form["client_id"] = client.client_id  # the MCP client itself, a public client

        answer = httpx2.post(f"{demo.url}/token", data=form, auth=auth)

        assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")
        assert "WWW-Authenticate" in answer.headers

    def test_without_a_completed_downstream_flow_it_is_an_invalid_target(self, stack: Stack, demo: Issuer):
        """RFC 8693 §2.2.2: a connection this grant never authorized yields no token."""
        access_token = tokens(demo, demo.register())["access_token"]
        added = connect_downstream(stack.ours, stack.provider, "demo", name="later")
        try:
            answer = exchange(stack, access_token, audience="later")
        finally:
            stack.ours.cli("connections", "remove", added)

        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_target")
        assert answer.json()["error_description"] == "this grant holds no completed downstream authorization for later"

    def test_another_subject_token_type_is_an_invalid_request(self, stack: Stack, demo: Issuer):
        """RFC 8693 §2.1: only access tokens are exchanged here."""
        access_token = tokens(demo, demo.register())["access_token"]

        answer = exchange(stack, access_token, subject_token_type="urn:ietf:params:oauth:token-type:id_token")

        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")

    def test_an_expired_downstream_token_is_refreshed_at_the_provider_and_rotated(self, stack: Stack, demo: Issuer):
        """Issue 4, OAuth 2.1 §4.3: past its expiry the token is refreshed first; the rotated tokens are kept."""
        client = demo.register()
        access_token = tokens(demo, client)["access_token"]
        journey = journey_of(stack.ours.db, client.client_id)
        before = exchange(stack, access_token).json()["access_token"]
        sealed = flow_of(stack.ours.db, journey["id"])["refresh_token_sealed"]
        execute(stack.ours.db, "UPDATE downstream_authorization_flows SET token_expires_at = ? WHERE journey_id = ?",
                "2020-01-01T00:00:00.000000+00:00", journey["id"])  # fmt: skip

        after = exchange(stack, access_token)

        assert after.status_code == 200, after.text
        assert after.json()["access_token"] != before
        flow = flow_of(stack.ours.db, journey["id"])
        assert flow["refresh_token_sealed"] != sealed and flow["token_expires_at"] > "2026"
        refreshed_then_exchanged = ["downstream_token_refreshed", "downstream_token_exchanged"]
        assert steps(stack.ours.db, journey["id"])[-2:] == refreshed_then_exchanged
        old = sealer().open(sealed, f"downstream_authorization_flows/{flow['id']}/refresh_token")
        provider_db = stack.provider.authorization_server.db
        sql = "SELECT rotated_at FROM refresh_tokens WHERE token_hash = ?"
        [rotated] = rows(provider_db, sql, hashlib.sha256(old.encode()).hexdigest())
        assert rotated["rotated_at"] is not None  # the provider saw its refresh token used, and rotated it


class TestTokensAtRest:
    def test_downstream_tokens_are_unreadable_in_the_database_without_the_key(self, stack: Stack, demo: Issuer):
        """Issue 4: AES-GCM at rest; the associated data binds each ciphertext to its row and column."""
        client = demo.register()
        downstream = exchange(stack, tokens(demo, client)["access_token"]).json()["access_token"]
        journey = journey_of(stack.ours.db, client.client_id)
        flow = flow_of(stack.ours.db, journey["id"])
        refresh_token = sealer().open(
            flow["refresh_token_sealed"], f"downstream_authorization_flows/{flow['id']}/refresh_token"
        )

        files = b"".join(path.read_bytes() for path in stack.ours.db.parent.glob(stack.ours.db.name + "*"))

        assert downstream.encode() not in files and refresh_token.encode() not in files
        assert b"eyJ" not in flow["access_token_sealed"]
        assert (
            sealer().open(flow["access_token_sealed"], f"downstream_authorization_flows/{flow['id']}/access_token")
            == downstream
        )
        with pytest.raises(Undecryptable):
            Sealer(parse_key(new_key())).open(
                flow["access_token_sealed"], f"downstream_authorization_flows/{flow['id']}/access_token"
            )
        with pytest.raises(Undecryptable):  # moved to the refresh token's column, or another row
            sealer().open(flow["access_token_sealed"], f"downstream_authorization_flows/{flow['id']}/refresh_token")

    def test_no_token_code_or_secret_appears_in_any_log(self, stack: Stack, demo: Issuer):
        """Issue 4, DESIGN security defaults: neither our tokens nor the provider's are ever logged."""
        client = demo.register()
        authorized = authorize(demo, client)
        issued = demo.exchange(client, authorized.code).json()
        downstream = exchange(stack, issued["access_token"]).json()["access_token"]
        journey = journey_of(stack.ours.db, client.client_id)
        flow = flow_of(stack.ours.db, journey["id"])
        refresh_token = sealer().open(
            flow["refresh_token_sealed"], f"downstream_authorization_flows/{flow['id']}/refresh_token"
        )
        provider_code = dict(parse_qsl(urlsplit(authorized.hops[1]).query))["code"]

        logs = stack.logs()

        secrets = [downstream, refresh_token, provider_code, issued["access_token"], issued["refresh_token"],
                   authorized.code.value, stack.provider.client_secret, stack.secrets["demo"], KEY]  # fmt: skip
        assert [secret[:8] for secret in secrets if secret in logs] == []


class TestDownstreamTool:
    def test_the_client_calls_downstream_profile_and_the_api_never_sees_the_mcp_token(
        self, stack: Stack, tmp_path: Path
    ):
        """Issue 4, RS-16: the tool reaches the API with the user's provider token, got by token exchange."""
        result = subprocess.run(
            [sys.executable, "client.py", "--server-url", stack.mcp.url, "--headless", "--store",
             str(tmp_path / "store.json"), "--call", "downstream_profile"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

        assert result.returncode == 0, result.stdout + result.stderr
        assert f"from the profile API of {stack.provider.issuer}" in result.stdout
        api_log = stack.provider.api.log()
        assert "profile of usr_" in api_log
        assert "not a token of" not in api_log  # what it logs when refusing another issuer's token, an MCP one


@dataclass
class ConsentingStack:
    """No demo mode: alice signs in and answers the consent pages of our server and of the provider."""

    ours: AuthorizationServer
    provider: DownstreamProvider


@pytest.fixture(scope="module")
def consenting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsentingStack]:
    workdir = tmp_path_factory.mktemp("consenting")
    as_port = free_port()
    provider = start_downstream_provider(
        workdir / "provider",
        callback_url=f"http://localhost:{as_port}/downstream/callback",
        user=(ALICE, ALICE_PASSWORD),
    )
    try:
        env = {PROVIDER_SECRET_ENV: provider.client_secret, "AS_DOWNSTREAM_TOKEN_KEY": KEY}

        def set_up(server: AuthorizationServer) -> None:
            server.cli(
                "mcp-servers", "add", "--id", "notes", "--resource", "http://localhost:8111/mcp", "--scopes", "n"
            )
            server.cli("users", "add", ALICE, input=ALICE_PASSWORD + "\n")
            connect_downstream(server, provider, "notes")

        ours, _ = set_up_then_serve(workdir, set_up, port=as_port, demo=False, env=env)
        try:
            yield ConsentingStack(ours, provider)
        finally:
            ours.program.stop()
    finally:
        provider.stop()


@pytest.fixture(name="notes")
def _notes(consenting: ConsentingStack, http: httpx2.Client) -> Issuer:
    return mcp_issuer(http, consenting.ours, "notes", "http://localhost:8111/mcp")


def through_pages(http: httpx2.Client, response: httpx2.Response, decision: str) -> httpx2.Response:
    """Sign in as alice and answer the consent page, on whichever of the two servers ``response`` leads to."""
    while response.status_code == 303 and "/interaction/" in response.headers["location"]:
        url = str(response.url.join(response.headers["location"]))
        token = csrf_token(http.get(url))
        if url.endswith("/login"):
            response = http.post(url, data={"csrf_token": token, "username": ALICE, "password": ALICE_PASSWORD})
        else:
            response = http.post(url, data={"csrf_token": token, "decision": decision})
    return response


class TestDenials:
    def test_a_denial_at_our_consent_asks_no_provider(self, consenting: ConsentingStack, notes: Issuer):
        """OAuth 2.1 §4.1.2.1: Deny sends access_denied; no downstream flow starts."""
        client = notes.register()
        query = notes.authorization_query(client, Pkce.new())

        response = through_pages(notes.http, notes.http.get(notes.authorization_endpoint, params=query), "deny")

        returned = redirect_params(response)
        assert (returned["error"], returned["state"], returned["iss"]) == ("access_denied", query["state"], notes.url)
        journey = journey_of(consenting.ours.db, client.client_id)
        assert journey["status"] == "denied"
        assert steps(consenting.ours.db, journey["id"])[-1] == "consent_denied"
        assert (
            rows(consenting.ours.db, "SELECT * FROM downstream_authorization_flows WHERE journey_id = ?", journey["id"])
            == []
        )

    def test_a_denial_at_the_provider_ends_the_journey_with_access_denied(
        self, consenting: ConsentingStack, notes: Issuer
    ):
        """Issue 4: the user denies at the provider; the MCP client gets access_denied with its state and iss."""
        client = notes.register()
        query = notes.authorization_query(client, Pkce.new())
        to_provider = through_pages(notes.http, notes.http.get(notes.authorization_endpoint, params=query), "allow")
        assert to_provider.headers["location"].startswith(consenting.provider.issuer)

        back = through_pages(notes.http, notes.http.get(to_provider.headers["location"]), "deny")
        assert back.headers["location"].startswith(f"{consenting.ours.url}/downstream/callback?")
        response = notes.http.get(back.headers["location"])

        returned = redirect_params(response)
        assert (returned["error"], returned["state"], returned["iss"]) == ("access_denied", query["state"], notes.url)
        journey = journey_of(consenting.ours.db, client.client_id)
        assert (journey["status"], journey["failure_reason"], journey["code_hash"]) == ("denied", "access_denied", None)
        flow = flow_of(consenting.ours.db, journey["id"])
        assert (flow["status"], flow["failure_reason"]) == ("failed", f"{PROFILE_CONNECTION} answered access_denied")
        assert steps(consenting.ours.db, journey["id"]) == [
            "registered",
            "authorization_requested",
            "user_authenticated",
            "consent_given",
            "downstream_flow_started",
            "downstream_flow_failed",
        ]
