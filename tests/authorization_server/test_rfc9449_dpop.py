"""DPoP at the authorization server (RFC 9449, issue 15): proofs at the token endpoint, bound tokens.

Every check of §4.3 is refused with ``invalid_dpop_proof`` and writes nothing: the code the
request carried still works afterwards. The proofs are signed here by hand (pyjwt), or by the
client's own key (``client/dpop.py``) where only a valid one is wanted.
"""

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from mcp_authz.client.dpop import DpopKey
from mcp_authz.shared.dpop import normalise_htu
from scripts.stack import start_authorization_server
from tests.authorization_server.flows import Issuer, claims, rows


def proof_of(key: DpopKey, url: str, **overrides: Any) -> str:
    """A proof of ``key`` for ``POST url``; ``overrides`` replace claims (``None`` drops one), ``header`` the header."""
    header: dict[str, Any] = {"typ": "dpop+jwt", "jwk": key.public_jwk, **overrides.pop("header", {})}
    signer = overrides.pop("signer", ECAlgorithm(ECAlgorithm.SHA256).from_jwk(key.private_jwk))
    alg = overrides.pop("alg", "ES256")
    body: dict[str, Any] = {"jti": f"j-{time.monotonic_ns()}", "htm": "POST", "htu": url, "iat": int(time.time())}
    body.update(overrides)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, signer, algorithm=alg, headers=header)


def error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


def _exchange(demo: Issuer, client: Any, code: Any, proofs: tuple[str, ...]) -> httpx2.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code.value,
        "code_verifier": code.pkce.verifier,
        "redirect_uri": code.redirect_uri,
        "resource": demo.resource,
        "client_id": client.client_id,
    }
    return demo.http.post(demo.token_endpoint, data=form, headers=[("DPoP", proof) for proof in proofs])


def refresh_with(demo: Issuer, client: Any, refresh_token: str, proof: str | None) -> httpx2.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client.client_id}
    return demo.http.post(demo.token_endpoint, data=form, headers={"DPoP": proof} if proof else {})


def other_signer() -> Any:
    return ec.generate_private_key(ec.SECP256R1())


#: Each check of RFC 9449 §4.3, as a proof that fails only it.
BAD_PROOFS: dict[str, Callable[[DpopKey, str], list[str]]] = {
    "two DPoP headers (§4.3 point 1)": lambda key, url: [proof_of(key, url), proof_of(key, url)],
    "not a JWT (§4.3 point 2)": lambda key, url: ["not-a-jwt"],
    "typ is not dpop+jwt (§4.3 point 4)": lambda key, url: [proof_of(key, url, header={"typ": "JWT"})],
    "alg is symmetric (§4.3 point 5)": lambda key, url: [proof_of(key, url, alg="HS256", signer="s" * 32)],
    "no jwk (§4.3 point 7)": lambda key, url: [proof_of(key, url, header={"jwk": None})],
    "jwk holds the private key (§4.3 point 7)": lambda key, url: [proof_of(key, url, header={"jwk": key.private_jwk})],
    "signature of another key (§4.3 point 6)": lambda key, url: [proof_of(key, url, signer=other_signer())],
    "htm is not POST (§4.3 point 8)": lambda key, url: [proof_of(key, url, htm="GET")],
    "htu is another URL (§4.3 point 9)": lambda key, url: [proof_of(key, url + "/elsewhere")],
    "htu is not a URL (§4.3 point 9)": lambda key, url: [proof_of(key, url, htu="http://[::1/token")],
    "iat too old (§4.3 point 11)": lambda key, url: [proof_of(key, url, iat=int(time.time()) - 600)],
    "iat in the future (§4.3 point 11)": lambda key, url: [proof_of(key, url, iat=int(time.time()) + 600)],
    "no jti (§4.3 point 3)": lambda key, url: [proof_of(key, url, jti=None)],
    "iat not a number (§4.3 point 11)": lambda key, url: [proof_of(key, url, iat=float("nan"))],
    "jwk of another curve (§4.3 point 7)": lambda key, url: [
        proof_of(key, url, header={"jwk": DpopKey.new().public_jwk | {"crv": "P-384"}})
    ],
}


class TestMetadata:
    def test_it_advertises_asymmetric_proof_algorithms(self, demo: Issuer):
        """RFC 9449 §5.1: ``dpop_signing_alg_values_supported``, asymmetric algorithms only."""
        metadata = demo.http.get(demo.url.replace("/mcp/demo", "/.well-known/oauth-authorization-server/mcp/demo"))
        algorithms = metadata.json()["dpop_signing_alg_values_supported"]
        assert set(algorithms) == {"ES256", "RS256", "PS256", "EdDSA"}


class TestBoundTokens:
    def test_a_code_exchanged_with_a_proof_gives_a_dpop_bound_token(self, demo: Issuer):
        """RFC 9449 §5, §6.1: ``token_type`` DPoP, and the access token's ``cnf.jkt`` is the proof's key."""
        key, client = DpopKey.new(), demo.register()
        response = _exchange(demo, client, demo.code(client), (key.proof("POST", demo.token_endpoint),))
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "DPoP"
        assert claims(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}

    def test_htu_is_compared_without_query_and_with_the_host_case_folded(self, demo: Issuer):
        """RFC 9449 §4.3 point 9: the htu is compared after normalisation, its query and fragment ignored."""
        key, client = DpopKey.new(), demo.register()
        loud = demo.token_endpoint.replace("http://localhost", "HTTP://LOCALHOST") + "?x=1#f"
        response = _exchange(demo, client, demo.code(client), (proof_of(key, loud),))
        assert response.status_code == 200, response.text
        assert normalise_htu(loud) == demo.token_endpoint

    def test_a_public_clients_refresh_token_is_bound_to_the_key(self, demo: Issuer):
        """RFC 9449 §5: a refresh with another key, or without a proof, is ``invalid_grant``; with the key it works."""
        key, client = DpopKey.new(), demo.register()
        issued = _exchange(demo, client, demo.code(client), (key.proof("POST", demo.token_endpoint),)).json()
        refresh_token = issued["refresh_token"]

        other = DpopKey.new().proof("POST", demo.token_endpoint)
        assert error_of(refresh_with(demo, client, refresh_token, other)) == (400, "invalid_grant")
        assert error_of(refresh_with(demo, client, refresh_token, None)) == (400, "invalid_grant")

        refreshed = refresh_with(demo, client, refresh_token, key.proof("POST", demo.token_endpoint))
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["token_type"] == "DPoP"
        assert claims(refreshed.json()["access_token"])["cnf"] == {"jkt": key.jkt}

    def test_without_a_proof_the_token_is_a_bearer_token(self, demo: Issuer):
        """RFC 9449 §5: DPoP is the client's choice; without a proof nothing is bound."""
        client = demo.register()
        response = demo.exchange(client, demo.code(client))
        assert response.json()["token_type"] == "Bearer"
        assert "cnf" not in claims(response.json()["access_token"])

    def test_introspection_returns_cnf(self, demo: Issuer, demo_secret: str):
        """RFC 9449 §6.2: introspection of a bound token names its key in ``cnf``, and ``token_type`` DPoP."""
        key, client = DpopKey.new(), demo.register()
        token = _exchange(demo, client, demo.code(client), (key.proof("POST", demo.token_endpoint),)).json()
        form = {"token": token["access_token"]}
        described = demo.post_form(demo.url + "/introspect", form, auth=("demo", demo_secret))
        assert described.json()["cnf"] == {"jkt": key.jkt}
        assert described.json()["token_type"] == "DPoP"


class TestProofChecks:
    @pytest.mark.parametrize("case", list(BAD_PROOFS))
    def test_each_check_refuses_with_invalid_dpop_proof_and_writes_nothing(self, demo: Issuer, case: str):
        """RFC 9449 §4.3, §5: a proof failing any check is ``invalid_dpop_proof``; the code is not spent."""
        key, client = DpopKey.new(), demo.register()
        code = demo.code(client)
        refused = _exchange(demo, client, code, tuple(BAD_PROOFS[case](key, demo.token_endpoint)))
        assert error_of(refused) == (400, "invalid_dpop_proof"), refused.text
        good = _exchange(demo, client, code, (key.proof("POST", demo.token_endpoint),))
        assert good.status_code == 200, good.text

    def test_a_replayed_proof_is_refused(self, demo: Issuer):
        """RFC 9449 §11.1: a proof's ``jti`` is single use, remembered in the database."""
        key, client = DpopKey.new(), demo.register()
        proof = key.proof("POST", demo.token_endpoint)
        assert _exchange(demo, client, demo.code(client), (proof,)).status_code == 200
        replayed = _exchange(demo, client, demo.code(client), (proof,))
        assert error_of(replayed) == (400, "invalid_dpop_proof")
        assert "already used" in replayed.json()["error_description"]

    def test_a_refused_grant_leaves_its_proof_unspent(self, demo: Issuer, demo_as: Any):
        """RFC 9449 §11.1 with §4.3: a request refused for another reason writes no ``jti`` either."""
        key, client = DpopKey.new(), demo.register()
        before = rows(demo_as.db, "SELECT count(*) AS n FROM dpop_proofs")[0]["n"]
        code = demo.code(client)
        proof = key.proof("POST", demo.token_endpoint)
        form = {"grant_type": "authorization_code", "code": code.value, "code_verifier": "x" * 43}
        refused = demo.http.post(
            demo.token_endpoint, data={**form, "client_id": client.client_id}, headers={"DPoP": proof}
        )
        assert error_of(refused) == (400, "invalid_grant")
        assert rows(demo_as.db, "SELECT count(*) AS n FROM dpop_proofs")[0]["n"] == before
        assert _exchange(demo, client, code, (proof,)).status_code == 200

    def test_a_dpop_bound_client_must_send_a_proof(self, demo: Issuer):
        """RFC 9449 §5.2: a client registered with ``dpop_bound_access_tokens`` is refused without a proof."""
        client = demo.register(dpop_bound_access_tokens=True)
        assert client.info["dpop_bound_access_tokens"] is True
        code = demo.code(client)
        assert error_of(demo.exchange(client, code)) == (400, "invalid_dpop_proof")
        assert _exchange(demo, client, code, (DpopKey.new().proof("POST", demo.token_endpoint),)).status_code == 200

    def test_dpop_bound_access_tokens_must_be_a_boolean(self, demo: Issuer):
        """RFC 9449 §5.2: the metadata value is a boolean."""
        body = {
            "redirect_uris": ["http://127.0.0.1:8765/callback"],
            "token_endpoint_auth_method": "none",
            "dpop_bound_access_tokens": "yes",
        }
        response = demo.http.post(demo.registration_endpoint, json=body)
        assert error_of(response) == (400, "invalid_client_metadata")


class TestAuthorizationCodeBinding:
    def test_dpop_jkt_binds_the_code_to_the_key(self, demo: Issuer):
        """RFC 9449 §10: a code asked for with ``dpop_jkt`` goes only to a proof of that key."""
        key, client = DpopKey.new(), demo.register()
        code = demo.code(client, dpop_jkt=key.jkt)
        other = _exchange(demo, client, code, (DpopKey.new().proof("POST", demo.token_endpoint),))
        assert error_of(other) == (400, "invalid_grant")
        assert error_of(demo.exchange(client, code)) == (400, "invalid_grant")
        bound = _exchange(demo, client, code, (key.proof("POST", demo.token_endpoint),))
        assert bound.status_code == 200, bound.text

    def test_a_malformed_dpop_jkt_is_invalid_request(self, demo: Issuer):
        """RFC 9449 §10: ``dpop_jkt`` is a JWK thumbprint; anything else goes back as ``invalid_request``."""
        client = demo.register()
        response = demo.authorize(client, None, dpop_jkt="short")
        assert response.status_code == 303
        assert "error=invalid_request" in response.headers["location"]


def demo_issuer_with(workdir: Path, mcp_port: int, *options: str) -> Iterator[Issuer]:
    """An in-process demo server of this module's own with ``options``, as its demo MCP server's issuer."""
    server = start_authorization_server(workdir, *options, mcp_port=mcp_port, in_process=True)
    with httpx2.Client(timeout=10) as http:
        registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
        yield Issuer(http, server.issuer_for("demo"), registration, resource=f"http://localhost:{mcp_port}/mcp")
    server.program.stop()


@pytest.fixture(name="nonce_issuer", scope="module")
def _nonce_issuer(tmp_path_factory: pytest.TempPathFactory, mcp_port: int) -> Iterator[Issuer]:
    """A demo server that requires DPoP nonces (``--dpop-nonce``)."""
    yield from demo_issuer_with(tmp_path_factory.mktemp("dpop_nonce"), mcp_port, "--dpop-nonce")


class TestNonces:
    def test_nonce_round_trip(self, nonce_issuer: Issuer):
        """RFC 9449 §8: without the nonce, ``use_dpop_nonce`` and a ``DPoP-Nonce``; with it, tokens and a nonce."""
        demo, key = nonce_issuer, DpopKey.new()
        client = demo.register()
        code = demo.code(client)
        asked = _exchange(demo, client, code, (key.proof("POST", demo.token_endpoint),))
        assert error_of(asked) == (400, "use_dpop_nonce")
        nonce = asked.headers["dpop-nonce"]

        answered = _exchange(demo, client, code, (key.proof("POST", demo.token_endpoint, nonce=nonce),))
        assert answered.status_code == 200, answered.text
        assert answered.headers["dpop-nonce"]

    def test_a_foreign_nonce_is_refused(self, nonce_issuer: Issuer):
        """RFC 9449 §8: a nonce the server did not make is answered ``use_dpop_nonce`` with its own."""
        demo, key = nonce_issuer, DpopKey.new()
        client = demo.register()
        forged = json.dumps({"not": "ours"})
        refused = _exchange(demo, client, demo.code(client), (key.proof("POST", demo.token_endpoint, nonce=forged),))
        assert error_of(refused) == (400, "use_dpop_nonce")


@pytest.fixture(name="no_public_grace", scope="module")
def _no_public_grace(tmp_path_factory: pytest.TempPathFactory, mcp_port: int) -> Iterator[Issuer]:
    """A demo server without a grace window for public clients (``--refresh-grace-public 0``)."""
    yield from demo_issuer_with(tmp_path_factory.mktemp("dpop_grace"), mcp_port, "--refresh-grace-public", "0")


class TestGraceWindow:
    def test_a_bound_public_refresh_token_has_the_confidential_grace_window(self, no_public_grace: Issuer):
        """Issue 15 with RFC 9449 §5: a public client's DPoP-bound refresh token proves a key, so a repeat
        within the confidential clients' window gets the same pair; an unbound one's repeat revokes."""
        demo, key = no_public_grace, DpopKey.new()
        client = demo.register()
        issued = _exchange(demo, client, demo.code(client), (key.proof("POST", demo.token_endpoint),)).json()
        first = refresh_with(demo, client, issued["refresh_token"], key.proof("POST", demo.token_endpoint))
        again = refresh_with(demo, client, issued["refresh_token"], key.proof("POST", demo.token_endpoint))
        assert again.status_code == 200, again.text
        assert again.json()["refresh_token"] == first.json()["refresh_token"]

        bearer = demo.register()
        refresh_token = demo.tokens(bearer)["refresh_token"]
        assert demo.refresh(bearer, refresh_token).status_code == 200
        assert error_of(demo.refresh(bearer, refresh_token)) == (400, "invalid_grant")
