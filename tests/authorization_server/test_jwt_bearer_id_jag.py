"""The jwt-bearer grant with an ID-JAG (RFC 7523 §2.1; SEP-990; draft-ietf-oauth-identity-assertion-authz-grant).

The operator trusts an enterprise identity provider for one MCP server (``mcp-servers trust-idp``):
a client it allowed presents the IdP's ID-JAG at the MCP server's issuer and gets an access token
for that MCP server, with no user at this server's sign-in page. Everything wrong with the assertion
is ``invalid_grant`` (RFC 7523 §3.1) and writes nothing; its ``jti`` is single use (RFC 7523 §3).
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

from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import Issuer, Registered, claims, rows, steps
from tests.authorization_server.test_private_key_jwt import Signer
from tests.documents import Answer, DocumentServer

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDP = "https://idp.example.com"
DEMO_RESOURCE = "http://localhost:8000/mcp"


def id_jag(signer: Signer, *, typ: str = "oauth-id-jag+jwt", **given: Any) -> str:
    """An ID-JAG as an IdP issues it (draft §3): ``given`` replaces claims; ``None`` drops one."""
    now = int(time.time())
    payload = {"iss": IDP, "sub": "alice@example.com", "exp": now + 300, "iat": now, "jti": secrets.token_urlsafe(16)}
    payload = {name: value for name, value in (payload | given).items() if value is not None}
    return jwt.encode(payload, signer.private_key, algorithm=signer.alg, headers={"kid": signer.kid, "typ": typ})


def present(issuer: Issuer, client: Registered, assertion: str, **form: str) -> httpx2.Response:
    return issuer._as_client(client, {"grant_type": JWT_BEARER, "assertion": assertion, **form})


def error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


def confidential(registration_endpoint: str) -> Registered:
    """RFC 7591 §3.1: a confidential client (client_secret_basic) of an enterprise app, registered dynamically."""
    with httpx2.Client() as http:
        response = http.post(
            registration_endpoint,
            json={
                "client_name": "Enterprise app",
                "redirect_uris": ["http://127.0.0.1:8890/callback"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
    assert response.status_code == 201, response.text
    return Registered(response.json())


@pytest.fixture(name="idp", scope="module")
def _idp() -> Signer:
    return Signer.new()


@pytest.fixture(name="demo_as", scope="module")
def _demo_as(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthorizationServer]:
    """A demo-mode server of this module's own, on a thread of the test process, its command line in-process."""
    server = start_authorization_server(tmp_path_factory.mktemp("enterprise_as"), in_process=True)
    yield server
    server.program.stop()


@pytest.fixture(name="demo")
def _demo(demo_as: AuthorizationServer, http: httpx2.Client) -> Issuer:
    return Issuer(
        http, demo_as.issuer_for("demo"), f"{demo_as.url}/api/v1/authz/clients/register/mcp/demo/latest", DEMO_RESOURCE
    )


@pytest.fixture(name="allowed", scope="module")
def _allowed(demo_as: AuthorizationServer, idp: Signer, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """A confidential client at the demo issuer, allowed to present the IdP's ID-JAGs there."""
    client = confidential(f"{demo_as.url}/api/v1/authz/clients/register/mcp/demo/latest")
    jwks = tmp_path_factory.mktemp("idp") / "idp.jwks.json"
    jwks.write_text(json.dumps(idp.jwks))
    printed = demo_as.cli(
        "mcp-servers",
        "trust-idp",
        "demo",
        "--idp",
        IDP,
        "--jwks-file",
        str(jwks),
        "--allow-client",
        client.client_id,
    ).stdout
    assert f"trusts the identity provider {IDP}" in printed
    return client


def good(demo: Issuer, client: Registered, idp: Signer, **given: Any) -> str:
    claims_ = {"aud": demo.url, "client_id": client.client_id, "resource": demo.resource, "scope": "mcp:read"}
    return id_jag(idp, **(claims_ | given))


def journeys_of(demo_as: AuthorizationServer, client_id: str) -> list[str]:
    found = rows(demo_as.db, "SELECT journey_id FROM mcp_authorization_flows WHERE client_id = ?", client_id)
    return [row["journey_id"] for row in found]


class TestGrant:
    def test_an_id_jag_gets_a_token_for_the_mcp_server(
        self, demo_as: AuthorizationServer, demo: Issuer, allowed: Registered, idp: Signer
    ):
        """SEP-990, draft §5.1, RFC 7523 §2.1: the token's audience is the resource, its subject the IdP's
        user, its scope the ID-JAG's; no refresh token (draft §5); the journey names the IdP and subject."""
        response = present(demo, allowed, good(demo, allowed, idp))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "Bearer" and body["scope"] == "mcp:read" and "refresh_token" not in body
        token = claims(body["access_token"])
        assert token["aud"] == demo.resource and token["iss"] == demo.url
        assert token["sub"] == "alice@example.com" and token["client_id"] == allowed.client_id
        [journey] = [
            j for j in journeys_of(demo_as, allowed.client_id) if "identity_assertion_granted" in steps(demo_as.db, j)
        ]
        [detail] = [
            row["detail"]
            for row in rows(demo_as.db, "SELECT detail FROM journey_events WHERE journey_id = ?", journey)
            if row["detail"]
        ]
        assert IDP in detail and "alice@example.com" in detail

    def test_scope_is_what_is_asked_within_what_the_id_jag_grants(self, demo: Issuer, allowed: Registered, idp: Signer):
        """RFC 6749 §3.3, SEP-990: requested ∩ granted; nothing in common is invalid_scope."""
        assertion = good(demo, allowed, idp, scope="mcp:read mcp:write")
        response = present(demo, allowed, assertion, scope="mcp:write other")
        assert response.status_code == 200 and response.json()["scope"] == "mcp:write"
        response = present(demo, allowed, good(demo, allowed, idp, scope="mcp:read"), scope="mcp:write")
        assert error_of(response) == (400, "invalid_scope")

    def test_jti_is_single_use(self, demo_as: AuthorizationServer, demo: Issuer, allowed: Registered, idp: Signer):
        """RFC 7523 §3 item 7, draft §5.1: a replayed ID-JAG is invalid_grant and issues nothing."""
        assertion = good(demo, allowed, idp)
        assert present(demo, allowed, assertion).status_code == 200
        before = len(journeys_of(demo_as, allowed.client_id))
        assert error_of(present(demo, allowed, assertion)) == (400, "invalid_grant")
        assert len(journeys_of(demo_as, allowed.client_id)) == before

    @pytest.mark.parametrize(
        "change",
        [
            {"typ": "JWT"},
            {"aud": "https://other.example.com"},
            {"iss": "https://untrusted.example.com"},
            {"resource": "https://other.example.com/mcp"},
            {"exp": int(time.time()) - 600},
            {"iat": int(time.time()) + 600},
            {"iat": None},
            {"jti": None},
            {"sub": None},
            {"client_id": "someone-else"},
        ],
        # exp and iat are times of the collection: named by their key alone, so every xdist worker collects the same ids
        ids=lambda change: ",".join(
            k if k in ("exp", "iat") and v is not None else f"{k}={v}" for k, v in change.items()
        ),
    )
    def test_a_wrong_assertion_is_invalid_grant_and_writes_nothing(
        self, demo_as: AuthorizationServer, demo: Issuer, allowed: Registered, idp: Signer, change: dict[str, Any]
    ):
        """RFC 7523 §3 and §3.1, draft §5.1: typ, aud = this issuer, iss trusted for this MCP server, resource
        one of its MCP servers, exp, iat, jti, sub, client_id = the authenticated client."""
        before = len(journeys_of(demo_as, allowed.client_id))
        assert error_of(present(demo, allowed, good(demo, allowed, idp, **change))) == (400, "invalid_grant")
        assert len(journeys_of(demo_as, allowed.client_id)) == before

    def test_the_assertion_is_never_logged(
        self, demo_as: AuthorizationServer, demo: Issuer, allowed: Registered, idp: Signer
    ):
        """Issue 15 (SEP-990): neither an accepted nor a refused ID-JAG, nor the token issued, reaches the log."""
        accepted = good(demo, allowed, idp)
        token = present(demo, allowed, accepted).json()["access_token"]
        refused = good(demo, allowed, idp, aud="https://other.example.com")
        assert error_of(present(demo, allowed, refused)) == (400, "invalid_grant")
        log = Path(demo_as.program.log_path).read_text()
        assert "invalid_grant" in log  # the refusal is logged, by its code and reason
        for secret in (accepted, refused, token, accepted.split(".")[1]):
            assert secret not in log

    def test_a_signature_by_another_key_is_invalid_grant(self, demo: Issuer, allowed: Registered, idp: Signer):
        """RFC 7523 §3 item 9: the signature must verify with the trusted IdP's keys."""
        forger = Signer(Signer.new().private_key, idp.alg, idp.kid)
        assert error_of(present(demo, allowed, good(demo, allowed, forger))) == (400, "invalid_grant")

    def test_a_client_the_operator_did_not_allow_is_refused(self, demo: Issuer, allowed: Registered, idp: Signer):
        """SEP-990: only the clients named with --allow-client may present the IdP's ID-JAGs (unauthorized_client)."""
        other = demo.register(token_endpoint_auth_method="client_secret_basic")
        response = present(demo, other, good(demo, other, idp))
        assert error_of(response) == (400, "unauthorized_client")

    def test_the_metadata_advertises_the_grant_and_profile(self, demo: Issuer):
        """SEP-990, RFC 8414 §2: the jwt-bearer grant and the id-jag grant profile are advertised."""
        metadata = demo.http.get(demo.url.replace("/mcp/demo", "/.well-known/oauth-authorization-server/mcp/demo"))
        assert JWT_BEARER in metadata.json()["grant_types_supported"]
        assert metadata.json()["authorization_grant_profiles_supported"] == [
            "urn:ietf:params:oauth:grant-profile:id-jag"
        ]


class TestTrust:
    def test_keys_from_jwks_uri_are_fetched_once_and_cached(
        self, demo_as: AuthorizationServer, demo: Issuer, documents: DocumentServer
    ):
        """SEP-990 with a jwks_uri, fetched through the SSRF-safe fetcher (safe_fetch.py) and cached."""
        signer = Signer.new()
        issuer = "https://idp2.example.com"
        url = documents.serve(f"/idp2/{signer.kid}/jwks", Answer.json(signer.jwks, **{"Cache-Control": "max-age=300"}))
        client = demo.register(token_endpoint_auth_method="client_secret_post")
        demo_as.cli(
            "mcp-servers",
            "trust-idp",
            "demo",
            "--idp",
            issuer,
            "--jwks-uri",
            url,
            "--allow-client",
            client.client_id,
        )
        for _ in range(2):
            assertion = good(demo, client, signer, iss=issuer)
            assert present(demo, client, assertion).status_code == 200
        assert documents.hits[f"/idp2/{signer.kid}/jwks"] == 1

    def test_list_and_distrust(self, demo_as: AuthorizationServer, demo: Issuer, tmp_path: Path):
        """The operator lists and removes trusted IdPs; after distrust-idp its ID-JAGs are invalid_grant."""
        signer = Signer.new()
        issuer = "https://idp3.example.com"
        (tmp_path / "jwks.json").write_text(json.dumps(signer.jwks))
        client = demo.register(token_endpoint_auth_method="client_secret_post")
        demo_as.cli(
            "mcp-servers",
            "trust-idp",
            "demo",
            "--idp",
            issuer,
            "--jwks-file",
            str(tmp_path / "jwks.json"),
            "--allow-client",
            client.client_id,
        )
        assert issuer in demo_as.cli("mcp-servers", "idps", "demo").stdout
        demo_as.cli("mcp-servers", "distrust-idp", "demo", "--idp", issuer)
        assert issuer not in demo_as.cli("mcp-servers", "idps").stdout
        assert error_of(present(demo, client, good(demo, client, signer, iss=issuer))) == (400, "invalid_grant")

    def test_bad_trust_settings_are_refused_with_one_line(self, demo_as: AuthorizationServer, tmp_path: Path):
        """A JWK Set with a private key, or an unknown MCP server, stops the command with its reason."""
        signer = Signer.new()
        jwk = signer.jwks["keys"][0] | {"d": "secret"}
        (tmp_path / "private.json").write_text(json.dumps({"keys": [jwk]}))
        failed = demo_as.cli(
            "mcp-servers",
            "trust-idp",
            "demo",
            "--idp",
            IDP + "/x",
            "--jwks-file",
            str(tmp_path / "private.json"),
            "--allow-client",
            "c",
            check=False,
        )
        assert failed.returncode != 0 and "public keys only" in failed.stderr
        failed = demo_as.cli(
            "mcp-servers",
            "trust-idp",
            "nope",
            "--idp",
            IDP,
            "--jwks-uri",
            "https://idp.example.com/jwks",
            "--allow-client",
            "c",
            check=False,
        )
        assert failed.returncode != 0 and "no MCP server" in failed.stderr
        assert IDP + "/x" not in demo_as.cli("mcp-servers", "idps").stdout


ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"
AUDIENCE = "https://resource-as.example.com"


def exchange(issuer: Issuer, client: Registered, subject_token: str, **form: str | None) -> httpx2.Response:
    """RFC 8693 §2.1 at this server as the IdP, asking for an ID-JAG (SEP-990 step 1)."""
    fields: dict[str, str | None] = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "requested_token_type": ID_JAG_TYPE,
        "subject_token": subject_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": AUDIENCE,
        "resource": "https://mcp.example.com/mcp",
        "scope": "notes:read",
    }
    return issuer._as_client(client, {**fields, **form})


@pytest.fixture(name="app", scope="module")
def _app(demo_as: AuthorizationServer) -> Registered:
    """A confidential client at this server as the IdP, allowed ID-JAGs for :data:`AUDIENCE` (clients allow-id-jag)."""
    client = confidential(f"{demo_as.url}/api/v1/authz/clients/register/mcp/demo/latest")
    demo_as.cli(
        "clients", "allow-id-jag", client.client_id, "--audience", AUDIENCE, "--audience-client-id", "app-there"
    )
    return client


class TestIdentityProvider:
    def test_a_signed_in_users_token_becomes_an_id_jag(
        self, demo_as: AuthorizationServer, demo: Issuer, app: Registered
    ):
        """RFC 8693 §2.2.1, draft-ietf-oauth-identity-assertion-authz-grant §3: issued_token_type id-jag,
        token_type N_A; the ID-JAG (typ oauth-id-jag+jwt) names the user, the audience, the client there,
        the resource and scope, and verifies with this server's published keys."""
        user = demo.tokens(app)
        response = exchange(demo, app, user["access_token"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["issued_token_type"] == ID_JAG_TYPE and body["token_type"] == "N_A"
        assert jwt.get_unverified_header(body["access_token"])["typ"] == "oauth-id-jag+jwt"
        keys = jwt.PyJWKClient(f"{demo_as.url}/jwks.json").get_signing_key_from_jwt(body["access_token"])
        assertion = jwt.decode(
            body["access_token"], keys.key, algorithms=["ES256", "RS256", "EdDSA"], audience=AUDIENCE
        )
        assert assertion["iss"] == demo.url and assertion["sub"] == claims(user["access_token"])["sub"]
        assert (assertion["client_id"], assertion["resource"], assertion["scope"]) == (
            "app-there",
            "https://mcp.example.com/mcp",
            "notes:read",
        )
        assert "id_jag_issued" in steps(demo_as.db, claims(user["access_token"])["grant_id"])

    def test_the_operator_lists_what_allow_id_jag_allowed(self, demo_as: AuthorizationServer, app: Registered):
        """Decision 0049 (the operator's commands): ``clients id-jag-audiences [CLIENT]`` lists each client's allowed
        audiences and its client id there; a client allowed none says so."""
        listed = demo_as.cli("clients", "id-jag-audiences", app.client_id).stdout.splitlines()
        everyone = demo_as.cli("clients", "id-jag-audiences").stdout.splitlines()
        none = demo_as.cli("clients", "id-jag-audiences", "no-such-client").stdout

        assert [line.split()[:4] for line in listed] == [[app.client_id, AUDIENCE, "as", "client"]]
        assert listed[0].split()[4] == "app-there"
        assert listed[0] in everyone
        assert none.startswith("client no-such-client may get no ID-JAGs")

    def test_an_audience_the_operator_did_not_allow_is_invalid_target(self, demo: Issuer, app: Registered):
        """RFC 8693 §2.2.2, SEP-990: ID-JAGs only for the authorization servers allowed for this client."""
        user = demo.tokens(app)
        assert error_of(exchange(demo, app, user["access_token"], audience="https://elsewhere.example.com")) == (
            400,
            "invalid_target",
        )

    def test_another_clients_user_token_is_refused(self, demo: Issuer, app: Registered):
        """RFC 8693 §2.2.2: a client exchanges only the tokens issued to it, and only tokens of this issuer."""
        other = demo.register(token_endpoint_auth_method="client_secret_basic")
        stolen = demo.tokens(other)["access_token"]
        assert error_of(exchange(demo, app, stolen)) == (400, "unauthorized_client")
        assert error_of(exchange(demo, app, "not-a-token")) == (400, "invalid_request")
