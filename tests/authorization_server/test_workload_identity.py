"""Workload identity federation at the authorization server (MCP SEP-1933, a draft; issue 15; decision 0051).

The operator trusts an issuer of workload JWTs (``workload-issuers add``) with rules deciding, by the
JWT's claims, which MCP server and scopes a workload gets. A workload presents its own JWT with the
jwt-bearer grant (RFC 7523 §2.1) and no client registration; everything wrong with the assertion is
``invalid_grant`` (RFC 7523 §3.1) and writes nothing.
"""

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest

from mcp_authz.authorization_server.db import Database
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.settings import DEMO_ADMIN
from mcp_authz.authorization_server.workload_issuers.service import WorkloadIssuerService, parse_rule
from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import Issuer, Registered, claims, rows, steps
from tests.authorization_server.test_jwt_bearer_id_jag import JWT_BEARER, error_of
from tests.authorization_server.test_private_key_jwt import Signer
from tests.conftest import Databases
from tests.documents import Answer, DocumentServer

CI = "https://ci.example.com"
DEMO_RESOURCE = "http://localhost:8000/mcp"


def workload_jwt(signer: Signer, audience: str, *, headers: dict[str, Any] | None = None, **given: Any) -> str:
    """A workload's JWT as its platform issues it: ``given`` replaces claims; ``None`` drops one."""
    now = int(time.time())
    payload = {
        "iss": CI,
        "sub": "repo:acme/deploy:ref:refs/heads/main",
        "aud": audience,
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": secrets.token_urlsafe(16),
        "repository": "acme/deploy",
        "ref": "refs/heads/main",
    }
    payload = {name: value for name, value in (payload | given).items() if value is not None}
    return jwt.encode(payload, signer.private_key, algorithm=signer.alg, headers={"kid": signer.kid, **(headers or {})})


def present(issuer: Issuer, assertion: str | None, **form: str) -> httpx2.Response:
    """RFC 7523 §2.1, SEP-1933 step 1: the grant with the assertion and the resource, no client authentication."""
    fields = {"grant_type": JWT_BEARER, "assertion": assertion, "resource": issuer.resource, **form}
    return issuer.post_form(issuer.token_endpoint, fields)


def written(server: AuthorizationServer) -> tuple[int, int, int]:
    """What a grant writes: clients, journeys, spent jtis."""
    counted = [
        rows(server.db, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]  # noqa: S608 - fixed table names
        for table in ("clients", "authorization_journeys", "identity_assertions")
    ]
    return counted[0], counted[1], counted[2]


@pytest.fixture(name="ci", scope="module")
def _ci() -> Signer:
    return Signer.new()


@pytest.fixture(name="wif_as", scope="module")
def _wif_as(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases | None, ci: Signer
) -> Iterator[AuthorizationServer]:
    """A demo-mode server of this module's own (on PostgreSQL with --engine postgresql), trusting the CI issuer:
    acme/deploy may read the demo MCP server, acme/admin on main may also write."""
    database = databases.new() if databases else None
    workdir = tmp_path_factory.mktemp("wif_as")
    server = start_authorization_server(workdir, in_process=True, database=database)
    (workdir / "ci.jwks.json").write_text(json.dumps(ci.jwks))
    printed = server.cli(
        "workload-issuers",
        "add",
        "--name",
        "ci",
        "--issuer",
        CI,
        "--jwks-file",
        str(workdir / "ci.jwks.json"),
        "--audience",
        "mcp-authorization",
        "--rule",
        "repository=acme/deploy -> demo scopes=mcp:read",
        "--rule",
        "repository=acme/admin,ref=refs/heads/main -> demo scopes=mcp:read mcp:write",
    ).stdout
    assert f"trusted workload issuer ci: {CI}" in printed
    yield server
    server.program.stop()
    if databases and database:
        databases.drop(database)


@pytest.fixture(name="demo")
def _demo(wif_as: AuthorizationServer, http: httpx2.Client) -> Issuer:
    return Issuer(
        http, wif_as.issuer_for("demo"), f"{wif_as.url}/api/v1/authz/clients/register/mcp/demo/latest", DEMO_RESOURCE
    )


class TestGrant:
    def test_a_workload_jwt_gets_a_token_without_registration(
        self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer
    ):
        """SEP-1933 steps 1, 8, 9; RFC 7523 §2.1: no client registration, no client_id; the token's audience is the
        MCP server, its subject the workload's, no refresh token; the workload is recorded as a client of kind
        workload and the journey names the issuer and subject."""
        response = present(demo, workload_jwt(ci, demo.url))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["scope"] == "mcp:read" and "refresh_token" not in body
        token = claims(body["access_token"])
        assert token["aud"] == DEMO_RESOURCE and token["iss"] == demo.url
        assert token["sub"] == "repo:acme/deploy:ref:refs/heads/main" and token["machine"] is True
        assert token["client_id"].startswith("wl_")
        [client] = rows(wif_as.db, "SELECT * FROM clients WHERE client_id = ?", token["client_id"])
        assert client["workload_issuer"] == "ci" and client["workload_subject"] == token["sub"]
        assert client["client_secret_hash"] is None and client["registration_token_hash"] is None
        [flow] = rows(
            wif_as.db, "SELECT journey_id FROM mcp_authorization_flows WHERE client_id = ?", token["client_id"]
        )
        assert steps(wif_as.db, flow["journey_id"]) == ["workload_identity_granted"]
        [event] = rows(wif_as.db, "SELECT detail FROM journey_events WHERE journey_id = ?", flow["journey_id"])
        assert "workload issuer ci" in event["detail"] and token["sub"] in event["detail"]
        shown = wif_as.cli("journeys", "show", flow["journey_id"]).stdout
        assert "workload_identity_granted" in shown and "workload issuer ci" in shown
        page = httpx2.get(f"{wif_as.url}/admin/journeys/{flow['journey_id']}", auth=DEMO_ADMIN)
        assert page.status_code == 200 and "a workload&#39;s JWT for a token" in page.text  # the sequence diagram
        listed = wif_as.cli("clients", "list").stdout
        assert f"workload of ci, subject {token['sub']}" in listed

    def test_the_same_workload_is_the_same_client_and_another_is_another(self, demo: Issuer, ci: Signer):
        """Decision 0051: the client_id is derived from this issuer, iss and sub: stable, one per workload."""
        first = claims(present(demo, workload_jwt(ci, demo.url)).json()["access_token"])["client_id"]
        again = claims(present(demo, workload_jwt(ci, demo.url)).json()["access_token"])["client_id"]
        other = present(demo, workload_jwt(ci, demo.url, sub="repo:acme/deploy:ref:refs/heads/dev"))
        assert first == again != claims(other.json()["access_token"])["client_id"]

    def test_aud_may_be_the_token_endpoint_or_a_configured_audience(self, demo: Issuer, ci: Signer):
        """RFC 7523 §3 item 3: the token endpoint's URL identifies the server too; --audience adds a platform's."""
        for audience in (demo.token_endpoint, "mcp-authorization", [demo.url, "https://else.example.com"]):
            assert present(demo, workload_jwt(ci, demo.url, aud=audience)).status_code == 200

    def test_at_the_root_issuer_the_resource_names_the_mcp_server(
        self, wif_as: AuthorizationServer, http: httpx2.Client, ci: Signer
    ):
        """RFC 8707 §2 at the root issuer (``/token``): the JWT's aud is that issuer, the resource the MCP server."""
        root = Issuer(http, wif_as.url, f"{wif_as.url}/register", DEMO_RESOURCE)
        response = present(root, workload_jwt(ci, root.url))
        assert response.status_code == 200 and claims(response.json()["access_token"])["aud"] == DEMO_RESOURCE

    def test_the_metadata_lists_the_grant_and_no_client_authentication(self, wif_as: AuthorizationServer, demo: Issuer):
        """SEP-1933, RFC 8414 §2: the jwt-bearer grant in grant_types_supported, and "none" (no client
        authentication) in token_endpoint_auth_methods_supported, as the conformance scenario's server says."""
        metadata = demo.http.get(f"{wif_as.url}/.well-known/oauth-authorization-server/mcp/demo").json()
        assert JWT_BEARER in metadata["grant_types_supported"]
        assert "none" in metadata["token_endpoint_auth_methods_supported"]

    def test_without_jti_the_jwt_is_accepted(self, demo: Issuer, ci: Signer):
        """RFC 7523 §3 item 7: jti is optional; when absent nothing is spent."""
        assert present(demo, workload_jwt(ci, demo.url, jti=None)).status_code == 200

    def test_jti_is_single_use(self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer):
        """RFC 7523 §3 item 7: a replayed JWT with a jti is invalid_grant and writes nothing."""
        assertion = workload_jwt(ci, demo.url)
        assert present(demo, assertion).status_code == 200
        before = written(wif_as)
        assert error_of(present(demo, assertion)) == (400, "invalid_grant")
        assert written(wif_as) == before

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param({"iss": "https://untrusted.example.com"}, id="item 1: iss not trusted"),
            pytest.param({"sub": None}, id="item 2: sub required"),
            pytest.param({"aud": "https://other.example.com"}, id="item 3: aud another server"),
            pytest.param({"exp": None}, id="item 4: exp required"),
            pytest.param({"exp": -600}, id="item 4: exp passed"),
            pytest.param({"nbf": 600}, id="item 5: nbf in the future"),
            pytest.param({"iat": 600}, id="item 6: iat in the future"),
        ],
    )
    def test_a_wrong_assertion_is_invalid_grant_and_writes_nothing(
        self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer, change: dict[str, Any]
    ):
        """RFC 7523 §3 items 1-6 and §3.1: each failed check is invalid_grant; nothing is written."""
        now = int(time.time())
        given = {
            name: now + value if name in ("exp", "nbf", "iat") and value is not None else value
            for name, value in change.items()
        }
        before = written(wif_as)
        assert error_of(present(demo, workload_jwt(ci, demo.url, **given))) == (400, "invalid_grant")
        assert written(wif_as) == before

    def test_a_signature_by_another_key_is_invalid_grant(self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer):
        """RFC 7523 §3 item 9: the signature must verify with the trusted issuer's keys."""
        forger = Signer(Signer.new().private_key, ci.alg, ci.kid)
        before = written(wif_as)
        assert error_of(present(demo, workload_jwt(forger, demo.url))) == (400, "invalid_grant")
        assert written(wif_as) == before

    @pytest.mark.parametrize("alg", ["none", "HS256"])
    def test_none_and_hmac_are_refused(self, demo: Issuer, ci: Signer, alg: str):
        """RFC 7523 §3 item 9, RFC 8725 §3.1: only asymmetric signatures, checkable with the issuer's public keys."""
        payload = jwt.decode(workload_jwt(ci, demo.url), options={"verify_signature": False})
        key = None if alg == "none" else secrets.token_bytes(32)
        forged = jwt.encode(payload, key, algorithm=alg, headers={"kid": ci.kid})
        assert error_of(present(demo, forged)) == (400, "invalid_grant")

    @pytest.mark.parametrize("assertion", ["not-a-jwt", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30"])
    def test_what_is_not_a_jwt_is_invalid_grant(self, demo: Issuer, assertion: str):
        """RFC 7523 §3.1: an assertion that is not a JWT is invalid_grant, never a 500."""
        assert error_of(present(demo, assertion)) == (400, "invalid_grant")

    def test_the_assertion_is_required(self, demo: Issuer):
        """RFC 7523 §2.1: the grant carries its assertion; without one the request is invalid_request."""
        assert error_of(present(demo, None)) == (400, "invalid_request")


class TestRules:
    def test_no_matching_rule_is_invalid_grant(self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer):
        """SEP-1933 (claim-based authorization rules), RFC 7523 §3.1: a workload no rule names gets nothing."""
        before = written(wif_as)
        response = present(demo, workload_jwt(ci, demo.url, repository="acme/other"))
        assert error_of(response) == (400, "invalid_grant")
        # every claim of a rule must hold: acme/admin, but not on main
        response = present(demo, workload_jwt(ci, demo.url, repository="acme/admin", ref="refs/heads/dev"))
        assert error_of(response) == (400, "invalid_grant")
        assert written(wif_as) == before

    def test_scope_is_the_request_within_the_rules(self, demo: Issuer, ci: Signer):
        """RFC 6749 §3.3: requested ∩ what the matching rules give; nothing left is invalid_scope."""
        admin = {"repository": "acme/admin"}
        response = present(demo, workload_jwt(ci, demo.url, **admin), scope="mcp:write other")
        assert response.status_code == 200 and response.json()["scope"] == "mcp:write"
        assert present(demo, workload_jwt(ci, demo.url, **admin)).json()["scope"] == "mcp:read mcp:write"
        response = present(demo, workload_jwt(ci, demo.url), scope="mcp:write")
        assert error_of(response) == (400, "invalid_scope")

    def test_the_resource_must_be_this_issuers_mcp_server(self, demo: Issuer, ci: Signer):
        """RFC 8707 §2: a resource that is not the issuer's MCP server is invalid_target."""
        response = present(demo, workload_jwt(ci, demo.url), resource="https://elsewhere.example.com/mcp")
        assert error_of(response) == (400, "invalid_target")


class TestTheWorkloadClient:
    def test_it_can_use_no_other_grant(self, demo: Issuer, ci: Signer):
        """Decision 0051: a workload client has no secret and proves itself only by its JWT: every other grant,
        naming its client_id, is invalid_client."""
        client_id = claims(present(demo, workload_jwt(ci, demo.url)).json()["access_token"])["client_id"]
        for grant in ("client_credentials", "refresh_token", "authorization_code"):
            response = demo.post_form(
                demo.token_endpoint, {"grant_type": grant, "client_id": client_id, "refresh_token": "x", "code": "x"}
            )
            assert error_of(response) == (401, "invalid_client"), grant

    def test_authorize_and_rfc_7592_do_not_know_it(self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer):
        """Decision 0051: a workload client has no redirect URI and no registration access token: /authorize
        answers with a page, never a redirect (OAuth 2.1 §4.1.2.1); RFC 7592 refuses any token (401)."""
        client_id = claims(present(demo, workload_jwt(ci, demo.url)).json()["access_token"])["client_id"]
        workload = Registered(
            {
                "client_id": client_id,
                "redirect_uris": ["http://127.0.0.1:8765/callback"],
                "token_endpoint_auth_method": "none",
            }
        )
        started = demo.authorize(workload)
        assert started.status_code == 400 and "location" not in started.headers
        configuration = demo.http.get(f"{wif_as.url}/register/{client_id}", headers={"Authorization": "Bearer x"})
        assert configuration.status_code == 401

    def test_a_client_id_naming_another_client_is_invalid_grant(
        self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer
    ):
        """SEP-1933 has no client_id; one sent is ignored (the conformance scenario sends one), unless it names
        another client here, which a workload may not pass itself off as (RFC 7523 §3.1)."""
        assert present(demo, workload_jwt(ci, demo.url), client_id="conformance-wif-workload").status_code == 200
        registered = demo.register()
        response = present(demo, workload_jwt(ci, demo.url), client_id=registered.client_id)
        assert error_of(response) == (400, "invalid_grant")

    def test_client_authentication_is_invalid_request(self, demo: Issuer, ci: Signer):
        """SEP-1933: a workload proves itself by its JWT alone; a client secret with it is invalid_request."""
        response = present(demo, workload_jwt(ci, demo.url), client_id="x", client_secret="y")
        assert error_of(response) == (400, "invalid_request")

    def test_a_blocked_workload_is_refused(self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer):
        """Decision 0025 applies to workloads too: ``clients block`` refuses it (unauthorized_client)."""
        sub = "repo:acme/deploy:ref:refs/heads/blocked"
        client_id = claims(present(demo, workload_jwt(ci, demo.url, sub=sub)).json()["access_token"])["client_id"]
        wif_as.cli("clients", "block", client_id)
        assert error_of(present(demo, workload_jwt(ci, demo.url, sub=sub))) == (400, "unauthorized_client")

    def test_the_console_lists_it_as_kind_workload(self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer):
        """Decision 0051, issue 17's console: the workload client shows as kind workload, filtered by that kind."""
        client_id = claims(present(demo, workload_jwt(ci, demo.url)).json()["access_token"])["client_id"]
        listed = demo.http.get(f"{wif_as.url}/admin/clients?kind=workload", auth=DEMO_ADMIN)
        assert listed.status_code == 200 and client_id in listed.text
        assert client_id not in demo.http.get(f"{wif_as.url}/admin/clients?kind=dynamic", auth=DEMO_ADMIN).text
        page = demo.http.get(f"{wif_as.url}/admin/clients/view", params={"client_id": client_id}, auth=DEMO_ADMIN)
        assert page.status_code == 200 and '<dd class="kind">workload</dd>' in page.text

    def test_an_id_jag_keeps_to_the_id_jag_path(self, demo: Issuer, ci: Signer):
        """SEP-990: a JWT of typ oauth-id-jag+jwt is an ID-JAG, for an authenticated client only, even when its iss
        is a workload issuer: without client authentication it is invalid_client."""
        assertion = workload_jwt(ci, demo.url, headers={"typ": "oauth-id-jag+jwt"}, resource=DEMO_RESOURCE)
        assert error_of(present(demo, assertion)) == (401, "invalid_client")

    def test_the_assertion_is_never_logged(self, wif_as: AuthorizationServer, demo: Issuer, ci: Signer):
        """SEP-1933 security: neither an accepted nor a refused workload JWT, nor the token issued, reaches the log."""
        accepted = workload_jwt(ci, demo.url)
        token = present(demo, accepted).json()["access_token"]
        refused = workload_jwt(ci, demo.url, aud="https://other.example.com")
        assert error_of(present(demo, refused)) == (400, "invalid_grant")
        log = Path(wif_as.program.log_path).read_text()
        assert "invalid_grant" in log
        for secret in (accepted, refused, token, accepted.split(".")[1]):
            assert secret not in log


class TestKeys:
    def test_keys_are_fetched_again_once_for_an_unknown_kid(
        self, wif_as: AuthorizationServer, demo: Issuer, documents: DocumentServer
    ):
        """RFC 7523 §3 item 9 with a jwks_uri (SSRF-safe fetcher, cached): a JWT whose kid the cached JWK Set lacks
        (the issuer rotated) reads it once more; a kid that is still unknown is invalid_grant."""
        old, new = Signer.new(), Signer.new()
        path = f"/wl-rotating/{old.kid}/jwks"
        url = documents.serve(path, Answer.json(old.jwks, **{"Cache-Control": "max-age=300"}))
        issuer = "https://rotating.example.com"
        wif_as.cli(
            "workload-issuers",
            "add",
            "--name",
            "rotating",
            "--issuer",
            issuer,
            "--jwks-uri",
            url,
            "--rule",
            "* -> demo",
        )
        for _ in range(2):
            assert present(demo, workload_jwt(old, demo.url, iss=issuer)).status_code == 200
        assert documents.hits[path] == 1
        documents.serve(path, Answer.json({"keys": old.jwks["keys"] + new.jwks["keys"]}))
        assert present(demo, workload_jwt(new, demo.url, iss=issuer)).status_code == 200
        assert documents.hits[path] == 2
        unknown = Signer.new()
        assert error_of(present(demo, workload_jwt(unknown, demo.url, iss=issuer))) == (400, "invalid_grant")
        assert documents.hits[path] == 3

    def test_without_keys_they_are_found_by_openid_connect_discovery(
        self, wif_as: AuthorizationServer, demo: Issuer, documents: DocumentServer
    ):
        """SEP-1933 steps 2-7, OIDC Discovery §4: the issuer's configuration names its jwks_uri, whose issuer must
        be exactly the workload issuer (§4.3)."""
        signer = Signer.new()
        issuer = documents.url(f"/wl-discovered/{signer.kid}")
        jwks = documents.serve(f"/wl-discovered/{signer.kid}/keys", Answer.json(signer.jwks))
        documents.serve(
            f"/wl-discovered/{signer.kid}/.well-known/openid-configuration",
            Answer.json({"issuer": issuer, "jwks_uri": jwks}),
        )
        wif_as.cli("workload-issuers", "add", "--name", "discovered", "--issuer", issuer, "--rule", "* -> demo")
        response = present(demo, workload_jwt(signer, demo.url, iss=issuer))
        # a rule without scopes= gives the MCP server's default scopes (the demo's: mcp:read)
        assert response.status_code == 200 and response.json()["scope"] == "mcp:read"
        # a configuration naming another issuer is refused (OIDC Discovery §4.3)
        liar = Signer.new()
        issuer = documents.url(f"/wl-liar/{liar.kid}")
        documents.serve(
            f"/wl-liar/{liar.kid}/.well-known/openid-configuration",
            Answer.json({"issuer": "https://someone-else.example.com", "jwks_uri": jwks}),
        )
        wif_as.cli("workload-issuers", "add", "--name", "liar", "--issuer", issuer, "--rule", "* -> demo")
        assert error_of(present(demo, workload_jwt(liar, demo.url, iss=issuer))) == (400, "invalid_grant")


class TestOperator:
    def test_list_and_remove(self, wif_as: AuthorizationServer, demo: Issuer, tmp_path: Path):
        """``workload-issuers list`` shows issuers and rules; after ``remove`` their JWTs are invalid_grant."""
        signer = Signer.new()
        (tmp_path / "jwks.json").write_text(json.dumps(signer.jwks))
        issuer = "https://gone.example.com"
        wif_as.cli(
            "workload-issuers",
            "add",
            "--name",
            "gone",
            "--issuer",
            issuer,
            "--jwks-file",
            str(tmp_path / "jwks.json"),
            "--rule",
            "team=a,env=prod -> demo scopes=mcp:read",
        )
        listed = wif_as.cli("workload-issuers", "list").stdout
        assert f"gone  {issuer}" in listed and "rule team=a,env=prod -> demo scopes=mcp:read" in listed
        assert present(demo, workload_jwt(signer, demo.url, iss=issuer, team="a", env="prod")).status_code == 200
        wif_as.cli("workload-issuers", "remove", "gone")
        assert "gone" not in wif_as.cli("workload-issuers", "list").stdout
        response = present(demo, workload_jwt(signer, demo.url, iss=issuer, team="a", env="prod"))
        assert error_of(response) == (400, "invalid_grant")

    def test_a_name_or_issuer_already_there_is_refused(self, wif_as: AuthorizationServer):
        """One issuer, one name: adding ``ci`` again, or its issuer under another name, stops with the reason."""
        for name, issuer in (("ci", "https://another.example.com"), ("ci-again", CI)):
            failed = wif_as.cli(
                "workload-issuers", "add", "--name", name, "--issuer", issuer, "--rule", "* -> demo", check=False
            )
            assert failed.returncode != 0 and "is already there" in failed.stderr
        assert "ci-again" not in wif_as.cli("workload-issuers", "list").stdout

    @pytest.mark.parametrize(
        ("rule", "says"),
        [
            ("repository=x demo", "no '->'"),
            ("repository -> demo", "not CLAIM=VALUE"),
            ("repository=x -> nope", "no MCP server"),
            ("repository=x -> demo scopes=admin", "has no scope admin"),
            ("repository=x -> demo read", "takes only scopes="),
        ],
    )
    def test_a_bad_rule_is_refused_with_one_line_and_adds_nothing(
        self, wif_as: AuthorizationServer, rule: str, says: str
    ):
        """A malformed rule, an unknown MCP server or scope stops ``workload-issuers add`` with its reason."""
        failed = wif_as.cli(
            "workload-issuers",
            "add",
            "--name",
            "bad",
            "--issuer",
            "https://bad.example.com",
            "--rule",
            rule,
            check=False,
        )
        assert failed.returncode != 0 and says in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
        assert "bad" not in wif_as.cli("workload-issuers", "list").stdout


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("rule", "says"),
    [("* -> nope", "no MCP server with id 'nope'"), ("* -> notes scopes=notes:read admin", "has no scope admin")],
)
async def test_the_service_refuses_a_rule_naming_an_unknown_server_or_scope(db: Database, rule: str, says: str):
    """Issue 17 audit, SEP-1933 (decision 0051), RFC 6749 §3.3: ``WorkloadIssuerService.add`` itself refuses a rule
    whose MCP server does not exist or lacks its scopes, so the console and the command line, which both go
    through it, cannot trust an issuer under a rule that could never be met; nothing is written."""
    mcp_servers = McpServerService()
    await db.run(
        lambda tx: mcp_servers.add(tx, server_id="notes", resource="https://notes.example.com/mcp", scopes="notes:read")
    )
    service = WorkloadIssuerService(mcp_servers)
    with pytest.raises(ValueError, match=says):
        await db.run(
            lambda tx: service.add(
                tx, name="ci", issuer=CI, rules=[parse_rule(rule)], audiences=[], jwks_uri=f"{CI}/jwks"
            )
        )
    assert await db.run(service.all) == []
    added = await db.run(
        lambda tx: service.add(
            tx, name="ci", issuer=CI, rules=[parse_rule("* -> notes scopes=notes:read")], audiences=[], jwks_uri=None
        )
    )
    assert [trusted.name for trusted in await db.run(service.all)] == [added.name]
