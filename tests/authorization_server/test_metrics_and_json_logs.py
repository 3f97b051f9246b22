"""Issue 17, "Ops surface": ``/metrics`` in the Prometheus text format on a listener of its own
(``--metrics-port``), and ``--log-format json`` at the authorization server and the MCP server.

The counters are scraped after real flows (docs/decisions/0038); the JSON lines are read from the
log of a real process and parsed one by one, and no token, code or secret may be in them (as the
other "nothing secret in the log" checks: the values the test holds are searched for in the text).
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.metrics import Metrics
from scripts.stack import AuthorizationServer, free_port, start_authorization_server, start_mcp_server
from tests.authorization_server.conftest import mcp_issuer
from tests.authorization_server.flows import Issuer
from tests.authorization_server.test_jwt_bearer_dpop import trusting
from tests.authorization_server.test_jwt_bearer_id_jag import JWT_BEARER

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(metrics_url: str) -> Samples:
    """Every sample of the metrics listener, by name and labels."""
    response = httpx2.get(metrics_url, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(name="metered")
def _metered(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[AuthorizationServer, str]]:
    """A demo-mode server with ``--metrics-port``; the URL of its metrics. ``as_options`` marks add options."""
    port = free_port()
    marker = request.node.get_closest_marker("as_options")
    in_process = not request.config.getoption("real_processes")
    server = start_authorization_server(
        tmp_path, "--metrics-port", str(port), *(marker.args if marker else ()), in_process=in_process
    )
    yield server, f"http://127.0.0.1:{port}/metrics"
    server.program.stop()


def demo_issuer(server: AuthorizationServer, http: httpx2.Client) -> Issuer:
    return mcp_issuer(http, server, "demo", "http://localhost:8000/mcp")


class TestMetrics:
    def test_a_flow_moves_the_request_token_and_journey_counters(
        self, metered: tuple[AuthorizationServer, str], http: httpx2.Client
    ):
        """Issue 17 (Ops surface): after registration (RFC 7591), a code redeemed (OAuth 2.1 §4.1.3), a refresh
        (§4.3) and a replayed code (§4.1.3: its grant revoked), the scrape counts requests by route template and
        status, their latency, tokens by grant type and the journey that ended revoked."""
        server, metrics_url = metered
        before = scrape(metrics_url)
        issuer = demo_issuer(server, http)
        client = issuer.register()
        code = issuer.code(client)
        tokens = issuer.exchange(client, code).json()
        assert issuer.refresh(client, tokens["refresh_token"]).status_code == 200
        assert issuer.exchange(client, code).status_code == 400  # replayed: its journey is revoked

        after = scrape(metrics_url)
        token_route = {"method": "POST", "route": "/mcp/{mcp_server_id}/token"}
        assert value(after, "as_http_requests_total", **token_route, status="200") == 2
        assert value(after, "as_http_requests_total", **token_route, status="400") == 1
        assert value(after, "as_http_request_duration_seconds_count", route=token_route["route"]) == 3
        register = "/api/v1/authz/clients/register/mcp/{mcp_server_id}/{version}"
        assert value(after, "as_http_requests_total", method="POST", route=register, status="201") == 1
        assert value(after, "as_tokens_issued_total", grant_type="authorization_code", kind="") == 1
        assert value(after, "as_tokens_issued_total", grant_type="refresh_token", kind="") == 1
        assert value(after, "as_journeys_ended_total", outcome="revoked") == 1
        assert value(before, "as_journeys_ended_total", outcome="revoked") == 0
        # Labels are templates and bounded sets: no client id, code or token reaches the scrape.
        text = httpx2.get(metrics_url).text
        for secret in (client.client_id, code.value, tokens["access_token"], tokens["refresh_token"]):
            assert secret not in text

    def test_metrics_are_not_served_on_the_public_port(self, metered: tuple[AuthorizationServer, str]):
        """Issue 17 (Ops surface, docs/decisions/0038): /metrics is on the metrics listener only, loopback by
        default; the public listener answers 404 as for any unknown path."""
        server, metrics_url = metered
        assert httpx2.get(server.url + "/metrics").status_code == 404
        assert httpx2.get(metrics_url).status_code == 200
        assert f"metrics: {metrics_url}" in server.program.log()

    def test_without_a_metrics_port_nothing_serves_metrics(self, fresh_as: AuthorizationServer):
        """Issue 17 (Ops surface): metrics are off by default: no listener, nothing on the public port."""
        assert httpx2.get(fresh_as.url + "/metrics").status_code == 404
        assert "metrics:" not in fresh_as.program.log()

    @pytest.mark.as_options("--rate-limit-register", "1/min")
    def test_a_rate_limit_refusal_is_counted_by_its_limit(
        self, metered: tuple[AuthorizationServer, str], http: httpx2.Client
    ):
        """Issue 17 (Ops surface), RFC 6585 §4: a 429 from the registration limit counts as limit="register"."""
        server, metrics_url = metered
        issuer = demo_issuer(server, http)
        issuer.register()
        refused = http.post(issuer.registration_endpoint, json={"redirect_uris": ["http://127.0.0.1:8888/cb"]})
        assert refused.status_code == 429

        samples = scrape(metrics_url)
        assert value(samples, "as_rate_limit_refusals_total", limit="register") == 1
        assert value(samples, "as_http_requests_total", method="POST", route=issuer_route(), status="429") == 1

    def test_jwt_bearer_tokens_are_counted_by_kind(
        self, metered: tuple[AuthorizationServer, str], http: httpx2.Client, tmp_path: Path
    ):
        """Issue 17 (Ops surface) with RFC 7523 §2.1: the jwt-bearer grant's tokens for an ID-JAG (SEP-990) and for
        a workload's JWT (SEP-1933) share the grant type and are told apart by ``kind``; other grants' kind is
        empty."""
        server, metrics_url = metered
        trusted = trusting(server, demo_issuer(server, http), tmp_path)
        for kind in ("id-jag", "workload", "workload"):
            assert trusted.grant(kind).status_code == 200

        after = scrape(metrics_url)
        assert value(after, "as_tokens_issued_total", grant_type=JWT_BEARER, kind="id-jag") == 1
        assert value(after, "as_tokens_issued_total", grant_type=JWT_BEARER, kind="workload") == 2
        assert value(after, "as_tokens_issued_total", grant_type=JWT_BEARER, kind="") == 0

    @pytest.mark.as_options("--rate-limit-revoke", "1/min", "--rate-limit-introspect-failures", "1/min")
    def test_revocation_and_introspection_refusals_are_counted_by_their_limits(
        self, metered: tuple[AuthorizationServer, str], http: httpx2.Client
    ):
        """Issue 17 (Ops surface), RFC 7009 §2, RFC 7662 §4: a 429 from the revocation limit counts as
        limit="revoke", one from the introspection endpoint's failed authentications as limit="introspect_failures"."""
        server, metrics_url = metered
        issuer = demo_issuer(server, http)
        client = issuer.register()
        revocations = [issuer.revoke(client, "guessed").status_code for _ in range(2)]
        wrong = {"token": "guessed"}
        introspections = [
            http.post(issuer.url + "/introspect", data=wrong, auth=("demo", "guess")).status_code for _ in range(2)
        ]

        assert (revocations, introspections) == ([200, 429], [401, 429])
        samples = scrape(metrics_url)
        assert value(samples, "as_rate_limit_refusals_total", limit="revoke") == 1
        assert value(samples, "as_rate_limit_refusals_total", limit="introspect_failures") == 1

    def test_an_outbound_fetch_that_fails_is_counted_by_its_result(
        self, metered: tuple[AuthorizationServer, str], http: httpx2.Client
    ):
        """Issue 17 (Ops surface): a client ID metadata document (CIMD) that cannot be fetched counts as an
        outbound fetch with result="failed"; the answer is the readable page, never a 500."""
        server, metrics_url = metered
        nobody = f"http://localhost:{free_port()}/client.json"  # demo mode fetches from loopback
        issuer = demo_issuer(server, http)
        response = http.get(
            issuer.authorization_endpoint,
            params={
                "response_type": "code",
                "client_id": nobody,
                "redirect_uri": "http://127.0.0.1:8888/callback",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
        )
        assert response.status_code == 400

        assert value(scrape(metrics_url), "as_outbound_fetches_total", result="failed") == 1


def issuer_route() -> str:
    return "/api/v1/authz/clients/register/mcp/{mcp_server_id}/{version}"


class TestCountedOnCommit:
    pytestmark = pytest.mark.anyio

    async def test_a_unit_that_rolls_back_counts_nothing(self, tmp_path: Path):
        """Issue 17 (Ops surface): what a unit counts (a journey ended) is told only once it committed; a unit
        that raised, whose rows were rolled back, counted nothing, and its group's other units still count."""
        db = await Database.open(tmp_path / "db.sqlite3")
        told: list[tuple[str, str]] = []
        db.observe(lambda event, label: told.append((event, label)))

        def unit(label: str, fail: bool) -> Callable[[Transaction], object]:
            async def run(tx: Transaction) -> None:
                tx.count("journey_ended", label)
                if fail:
                    raise ValueError("rolled back")

            return run

        try:
            await db.run(unit("denied", False))  # type: ignore[arg-type]
            with pytest.raises(ValueError):
                await db.run(unit("failed", True))  # type: ignore[arg-type]
        finally:
            await db.close()
        assert told == [("journey_ended", "denied")]


class TestJsonLogs:
    @pytest.mark.real_process
    def test_the_authorization_server_writes_one_json_object_per_line_and_no_secret(
        self, tmp_path: Path, http: httpx2.Client
    ):
        """Issue 17 (Ops surface): with --log-format json every line of the log is a JSON object with time,
        level, logger and message; an access line adds method, route (the template), status and duration; no
        token, code or client secret is in it."""
        server = start_authorization_server(tmp_path, "--log-format", "json")
        try:
            issuer = demo_issuer(server, http)
            client = issuer.register(token_endpoint_auth_method="client_secret_basic")
            code = issuer.code(client)
            tokens = issuer.exchange(client, code).json()
            assert issuer.refresh(client, tokens["refresh_token"]).status_code == 200
        finally:
            server.program.stop()
        lines = [json.loads(line) for line in server.program.log().splitlines() if line.strip()]

        assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
        access = [line for line in lines if line.get("route") == "/mcp/{mcp_server_id}/token"]
        assert [(line["method"], line["status"]) for line in access] == [("POST", 200), ("POST", 200)]
        assert all(isinstance(line["duration_ms"], float) for line in access)
        assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own lines are JSON too
        text = server.program.log()
        for secret in (code.value, tokens["access_token"], tokens["refresh_token"], client.client_secret or "?"):
            assert secret not in text

    def test_the_mcp_server_writes_one_json_object_per_line_and_no_token(self, tmp_path: Path):
        """Issue 17 (Ops surface): the MCP server's --log-format json: every line parses, the start line names
        the resource, and a bearer token sent to it (RFC 6750 §2.1) is not in the log."""
        port = free_port()
        server = start_mcp_server(tmp_path, port, "http://localhost:9/mcp/demo", "--log-format", "json")
        bogus = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
        try:
            answer = httpx2.post(
                f"http://localhost:{port}/mcp", headers={"Authorization": f"Bearer {bogus}"}, json={}, timeout=10
            )
            assert answer.status_code == 401
        finally:
            server.program.stop()
        text = server.program.log()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]

        assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
        assert any(line["message"].startswith("MCP server: resource ") for line in lines)
        assert bogus not in text


def test_each_token_issued_is_counted_under_its_own_grant_type_and_kind():
    """Issue 17 (Ops surface), kept by issue 14's kept children: every call counts, each grant type and
    kind apart (the jwt-bearer grant's ID-JAG and workload uses are two kinds of one grant type)."""
    metrics = Metrics()
    issued = [
        ("authorization_code", ""),
        ("refresh_token", ""),
        ("refresh_token", ""),
        (JWT_BEARER, "workload"),
        (JWT_BEARER, "id-jag"),
        (JWT_BEARER, "workload"),
        ("refresh_token", ""),
    ]
    for grant_type, kind in issued:
        metrics.token_issued(grant_type, kind)
    counted = {
        (sample.labels["grant_type"], sample.labels["kind"]): sample.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for sample in family.samples
        if sample.name == "as_tokens_issued_total"
    }
    assert counted == {
        ("authorization_code", ""): 1,
        ("refresh_token", ""): 3,
        (JWT_BEARER, "workload"): 2,
        (JWT_BEARER, "id-jag"): 1,
    }
