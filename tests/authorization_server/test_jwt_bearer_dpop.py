"""DPoP-bound tokens from the jwt-bearer grant (RFC 7523 §2.1 with RFC 9449 §5), for both of its kinds.

RFC 9449 §5 applies to every grant at the token endpoint: an ID-JAG (SEP-990, decision 0049) and a
workload's own JWT (SEP-1933, decision 0051) presented with a DPoP proof get a DPoP-bound access token
(``token_type`` DPoP, ``cnf.jkt``), checked and spent by the same code as the other grants
(``flow/token/dpop.py``). A bad proof is ``invalid_dpop_proof`` and spends nothing: the assertion still
works afterwards. Each test runs for both kinds, against the session's demo stack, whose MCP server
accepts the bound token with ``Authorization: DPoP`` only.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from mcp_authz.client.dpop import DpopKey
from scripts.stack import AuthorizationServer, McpServer, start_authorization_server
from tests.authorization_server.flows import Issuer, Registered, claims, rows
from tests.authorization_server.test_jwt_bearer_id_jag import JWT_BEARER, error_of, id_jag
from tests.authorization_server.test_private_key_jwt import Signer
from tests.authorization_server.test_rfc9449_dpop import proof_of
from tests.authorization_server.test_workload_identity import workload_jwt
from tests.conftest import Databases

IDP = "https://idp.dpop.example.com"
CI = "https://ci.dpop.example.com"
KINDS = ["id-jag", "workload"]


@dataclass(frozen=True)
class Trusting:
    """An issuer that trusts ``IDP`` for its demo MCP server's ID-JAGs (presented by ``client`` or ``bound``, the
    latter registered with ``dpop_bound_access_tokens``) and ``CI``'s workload JWTs for acme/deploy."""

    demo: Issuer
    client: Registered
    bound: Registered
    idp: Signer
    ci: Signer

    def assertion(self, kind: str) -> str:
        """A fresh, valid assertion of ``kind``, for ``client`` when it is an ID-JAG."""
        return self.assertion_for(kind, self.client)

    def assertion_for(self, kind: str, client: Registered) -> str:
        if kind == "workload":
            return workload_jwt(self.ci, self.demo.url, iss=CI)
        given = {"aud": self.demo.url, "client_id": client.client_id, "resource": self.demo.resource}
        return id_jag(self.idp, iss=IDP, scope="mcp:read", **given)

    def grant(
        self, kind: str, *proofs: str, assertion: str | None = None, client: Registered | None = None
    ) -> httpx2.Response:
        """RFC 7523 §2.1 with ``proofs`` as ``DPoP`` headers (RFC 9449 §4.1): an ID-JAG's client authenticates
        with its secret (Basic), a workload with nothing (SEP-1933)."""
        client = client or self.client
        form = {"grant_type": JWT_BEARER, "assertion": assertion or self.assertion_for(kind, client)}
        headers = [("DPoP", proof) for proof in proofs]
        if kind == "workload":
            return self.demo.http.post(
                self.demo.token_endpoint, data=form | {"resource": self.demo.resource}, headers=headers
            )
        assert client.client_secret is not None
        auth = (client.client_id, client.client_secret)
        return self.demo.http.post(self.demo.token_endpoint, data=form, headers=headers, auth=auth)


def trusting(server: AuthorizationServer, demo: Issuer, workdir: Path) -> Trusting:
    """Make ``server`` trust a new IdP and a new workload issuer for its demo MCP server (``trust-idp``,
    ``workload-issuers add``), with two confidential clients allowed to present the IdP's ID-JAGs."""
    client, bound = (
        demo.register(token_endpoint_auth_method="client_secret_basic", **bound)
        for bound in ({}, {"dpop_bound_access_tokens": True})
    )
    idp, ci = Signer.new(), Signer.new()
    (workdir / "idp.jwks.json").write_text(json.dumps(idp.jwks))
    (workdir / "ci.jwks.json").write_text(json.dumps(ci.jwks))
    allowed = ("--allow-client", client.client_id, "--allow-client", bound.client_id)
    server.cli(
        "mcp-servers", "trust-idp", "demo", "--idp", IDP, "--jwks-file", str(workdir / "idp.jwks.json"), *allowed
    )
    rule = "repository=acme/deploy -> demo scopes=mcp:read"
    jwks = str(workdir / "ci.jwks.json")
    server.cli("workload-issuers", "add", "--name", "ci-dpop", "--issuer", CI, "--jwks-file", jwks, "--rule", rule)
    return Trusting(demo, client, bound, idp, ci)


@pytest.fixture(name="trusted", scope="module")
def _trusted(
    demo_as: AuthorizationServer, mcp_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Trusting]:
    """The session's demo server (its demo MCP server in front of it), trusting this module's IdP and CI issuer."""
    with httpx2.Client(timeout=10) as http:
        registration = f"{demo_as.url}/api/v1/authz/clients/register/mcp/demo/latest"
        demo = Issuer(http, demo_as.issuer_for("demo"), registration, resource=f"http://localhost:{mcp_port}/mcp")
        yield trusting(demo_as, demo, tmp_path_factory.mktemp("jwt_dpop"))
    demo_as.cli("mcp-servers", "distrust-idp", "demo", "--idp", IDP)
    demo_as.cli("workload-issuers", "remove", "ci-dpop")


def written(server: AuthorizationServer) -> list[int]:
    """What a grant writes: journeys, spent DPoP proofs."""
    tables = ("authorization_journeys", "dpop_proofs")
    return [rows(server.db, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] for table in tables]  # noqa: S608 - fixed names


@pytest.mark.parametrize("kind", KINDS)
class TestBoundTokens:
    def test_a_proof_binds_the_token(self, trusted: Trusting, kind: str):
        """RFC 9449 §5, §6.1 for the jwt-bearer grant (RFC 7523 §2.1): ``token_type`` DPoP and ``cnf.jkt`` the proof's
        key; a workload, with no registration, opts in by sending the proof."""
        key = DpopKey.new()
        response = trusted.grant(kind, key.proof("POST", trusted.demo.token_endpoint))
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "DPoP"
        assert claims(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}

    def test_without_a_proof_the_token_is_a_bearer_token(self, trusted: Trusting, kind: str):
        """RFC 9449 §5: DPoP is the client's choice; without a proof nothing is bound."""
        response = trusted.grant(kind)
        assert response.json()["token_type"] == "Bearer", response.text
        assert "cnf" not in claims(response.json()["access_token"])

    @pytest.mark.parametrize("bad", ["htu", "two"])
    def test_a_bad_proof_is_invalid_dpop_proof_and_spends_nothing(
        self, demo_as: AuthorizationServer, trusted: Trusting, kind: str, bad: str
    ):
        """RFC 9449 §4.3 points 1 and 9, §5: ``invalid_dpop_proof``; no journey, no proof spent, and the assertion
        (its single-use ``jti``, RFC 7523 §3) still works afterwards."""
        key, url = DpopKey.new(), trusted.demo.token_endpoint
        proofs = [proof_of(key, url + "/elsewhere")] if bad == "htu" else [key.proof("POST", url)] * 2
        assertion = trusted.assertion(kind)
        before = written(demo_as)
        assert error_of(trusted.grant(kind, *proofs, assertion=assertion)) == (400, "invalid_dpop_proof")
        assert written(demo_as) == before
        assert trusted.grant(kind, key.proof("POST", url), assertion=assertion).status_code == 200

    def test_a_replayed_proof_is_refused(self, trusted: Trusting, kind: str):
        """RFC 9449 §11.1: a proof's ``jti`` is used once, here as at the other grants."""
        proof = DpopKey.new().proof("POST", trusted.demo.token_endpoint)
        assert trusted.grant(kind, proof).status_code == 200
        assert error_of(trusted.grant(kind, proof)) == (400, "invalid_dpop_proof")

    def test_a_refused_grant_leaves_its_proof_unspent(self, trusted: Trusting, kind: str):
        """RFC 9449 §11.1 with RFC 7523 §3.1: a grant refused for its assertion (a replayed one) spends no proof."""
        key, assertion = DpopKey.new(), trusted.assertion(kind)
        assert trusted.grant(kind, assertion=assertion).status_code == 200
        proof = key.proof("POST", trusted.demo.token_endpoint)
        assert error_of(trusted.grant(kind, proof, assertion=assertion)) == (400, "invalid_grant")
        response = trusted.grant(kind, proof)
        assert response.status_code == 200 and response.json()["token_type"] == "DPoP", response.text


class TestRegisteredClients:
    def test_a_dpop_bound_client_must_send_a_proof(self, demo_as: AuthorizationServer, trusted: Trusting):
        """RFC 9449 §5.2: a client registered with ``dpop_bound_access_tokens`` presenting an ID-JAG (SEP-990)
        without a proof is ``invalid_dpop_proof``, writes nothing, and gets a bound token with one."""
        assertion = trusted.assertion_for("id-jag", trusted.bound)
        before = written(demo_as)
        assert error_of(trusted.grant("id-jag", assertion=assertion, client=trusted.bound)) == (
            400,
            "invalid_dpop_proof",
        )
        assert written(demo_as) == before
        proof = DpopKey.new().proof("POST", trusted.demo.token_endpoint)
        response = trusted.grant("id-jag", proof, assertion=assertion, client=trusted.bound)
        assert response.status_code == 200 and response.json()["token_type"] == "DPoP", response.text


class TestResourceServer:
    def test_the_mcp_server_takes_the_workloads_bound_token_as_dpop_only(self, trusted: Trusting, demo_mcp: McpServer):
        """RFC 9449 §7.1, §7.2, end to end: the MCP server accepts the jwt-bearer grant's bound token with
        ``Authorization: DPoP`` and a proof of its key, and refuses it as a bearer token (``invalid_token``)."""
        key = DpopKey.new()
        token = trusted.grant("workload", key.proof("POST", trusted.demo.token_endpoint)).json()["access_token"]
        accept = {"Accept": "application/json, text/event-stream"}
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        proof = key.proof("POST", demo_mcp.url, access_token=token)
        as_dpop = httpx2.post(
            demo_mcp.url, json=initialize, headers={**accept, "Authorization": f"DPoP {token}", "DPoP": proof}
        )
        assert as_dpop.status_code == 200, as_dpop.text
        as_bearer = httpx2.post(demo_mcp.url, json=initialize, headers={**accept, "Authorization": f"Bearer {token}"})
        assert as_bearer.status_code == 401
        assert 'error="invalid_token"' in as_bearer.headers["www-authenticate"]


@pytest.fixture(name="nonce_trusted", scope="module")
def _nonce_trusted(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases | None, mcp_port: int
) -> Iterator[Trusting]:
    """An in-process demo server of this module's own that requires DPoP nonces (``--dpop-nonce``), on PostgreSQL
    with --engine postgresql, trusting this module's IdP and CI issuer."""
    database = databases.new() if databases else None
    workdir = tmp_path_factory.mktemp("jwt_dpop_nonce")
    server = start_authorization_server(workdir, "--dpop-nonce", mcp_port=mcp_port, in_process=True, database=database)
    with httpx2.Client(timeout=10) as http:
        registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
        demo = Issuer(http, server.issuer_for("demo"), registration, resource=f"http://localhost:{mcp_port}/mcp")
        yield trusting(server, demo, workdir)
    server.program.stop()
    if databases and database:
        databases.drop(database)


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_requiring_nonces_asks_for_one(nonce_trusted: Trusting, kind: str):
    """RFC 9449 §8: with ``--dpop-nonce`` the jwt-bearer grant answers a proof without a nonce ``use_dpop_nonce``
    and a ``DPoP-Nonce``, leaving the assertion unspent; with that nonce the token is bound."""
    key, url, assertion = DpopKey.new(), nonce_trusted.demo.token_endpoint, nonce_trusted.assertion(kind)
    asked = nonce_trusted.grant(kind, key.proof("POST", url), assertion=assertion)
    assert error_of(asked) == (400, "use_dpop_nonce")
    answered = nonce_trusted.grant(kind, key.proof("POST", url, nonce=asked.headers["dpop-nonce"]), assertion=assertion)
    assert answered.status_code == 200, answered.text
    assert claims(answered.json()["access_token"])["cnf"] == {"jkt": key.jkt}
