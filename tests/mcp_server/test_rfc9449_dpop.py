"""DPoP at the MCP server (RFC 9449 §7, issue 15): ``Authorization: DPoP`` with a proof naming the token."""

from collections.abc import Iterator

import httpx2
import pytest

from mcp_authz.client.dpop import DpopKey
from mcp_authz.shared.www_authenticate import find_challenge
from scripts.stack import McpServer, free_port, start_mcp_server
from tests.mcp_server.helpers import INITIALIZE, Signer

ACCEPT = "application/json, text/event-stream"


def send_dpop(url: str, token: str, *proofs: str, scheme: str = "DPoP") -> httpx2.Response:
    headers = [("Accept", ACCEPT), ("Authorization", f"{scheme} {token}"), *(("DPoP", proof) for proof in proofs)]
    return httpx2.post(url, json=INITIALIZE, headers=headers)


def dpop_params(response: httpx2.Response) -> dict[str, str]:
    challenge = find_challenge(response.headers["www-authenticate"], "DPoP")
    assert challenge is not None, response.headers["www-authenticate"]
    return challenge.params


class TestDpopTokens:
    def test_a_bound_token_with_its_proof_is_accepted(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RFC 9449 §7.1: the DPoP scheme, a proof of the token's key for this request, ``ath`` its hash."""
        key = DpopKey.new()
        token = signer.token(cnf={"jkt": key.jkt})
        response = send_dpop(demo_mcp.url, token, key.proof("POST", demo_mcp.url, access_token=token))
        assert response.status_code == 200, response.text

    def test_a_bound_token_sent_as_bearer_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RFC 9449 §7.2: a DPoP-bound token presented as a bearer token is ``invalid_token``."""
        token = signer.token(cnf={"jkt": DpopKey.new().jkt})
        response = send_dpop(demo_mcp.url, token, scheme="Bearer")
        assert response.status_code == 401
        assert dpop_params(response)["error"] == "invalid_token"
        assert dpop_params(response)["algs"] == "ES256 RS256 PS256 EdDSA"

    def test_a_wrong_ath_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RFC 9449 §4.3 point 12, §7.1: the proof must hash this very token (``ath``)."""
        key = DpopKey.new()
        token = signer.token(cnf={"jkt": key.jkt})
        proof = key.proof("POST", demo_mcp.url, access_token=signer.token(cnf={"jkt": key.jkt}))
        response = send_dpop(demo_mcp.url, token, proof)
        assert response.status_code == 401
        assert dpop_params(response)["error"] == "invalid_dpop_proof"
        assert "ath" in dpop_params(response)["error_description"]

    def test_a_proof_of_another_key_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RFC 9449 §7.1, §6.1: the proof's key must be the one in the token's ``cnf.jkt``."""
        token = signer.token(cnf={"jkt": DpopKey.new().jkt})
        response = send_dpop(demo_mcp.url, token, DpopKey.new().proof("POST", demo_mcp.url, access_token=token))
        assert (response.status_code, dpop_params(response)["error"]) == (401, "invalid_dpop_proof")

    def test_a_replayed_proof_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RFC 9449 §11.1: a proof's ``jti`` is used once at the resource server too."""
        key = DpopKey.new()
        token = signer.token(cnf={"jkt": key.jkt})
        proof = key.proof("POST", demo_mcp.url, access_token=token)
        assert send_dpop(demo_mcp.url, token, proof).status_code == 200
        replayed = send_dpop(demo_mcp.url, token, proof)
        assert (replayed.status_code, dpop_params(replayed)["error"]) == (401, "invalid_dpop_proof")

    def test_a_proof_for_another_method_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RFC 9449 §4.3 point 8: ``htm`` is the request's method."""
        key = DpopKey.new()
        token = signer.token(cnf={"jkt": key.jkt})
        response = send_dpop(demo_mcp.url, token, key.proof("GET", demo_mcp.url, access_token=token))
        assert (response.status_code, dpop_params(response)["error"]) == (401, "invalid_dpop_proof")

    def test_no_proof_or_two_proofs_are_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RFC 9449 §4.3 point 1, §7.1: exactly one DPoP header."""
        key = DpopKey.new()
        token = signer.token(cnf={"jkt": key.jkt})
        two = [key.proof("POST", demo_mcp.url, access_token=token) for _ in range(2)]
        for proofs in ([], two):
            response = send_dpop(demo_mcp.url, token, *proofs)
            assert (response.status_code, dpop_params(response)["error"]) == (401, "invalid_dpop_proof")

    def test_an_unbound_token_sent_as_dpop_is_refused(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RFC 9449 §7.1: the DPoP scheme is for DPoP-bound tokens; a bearer token is ``invalid_token``."""
        key, token = DpopKey.new(), signer.token()
        response = send_dpop(demo_mcp.url, token, key.proof("POST", demo_mcp.url, access_token=token))
        assert (response.status_code, dpop_params(response)["error"]) == (401, "invalid_token")

    def test_the_audience_is_still_checked(self, demo_mcp: McpServer, signer: Signer) -> None:
        """RFC 8707 with RFC 9449 §7.1: a DPoP token for another resource is ``invalid_token``."""
        key = DpopKey.new()
        token = signer.token(cnf={"jkt": key.jkt}, aud="http://localhost:1/mcp")
        response = send_dpop(demo_mcp.url, token, key.proof("POST", demo_mcp.url, access_token=token))
        assert (response.status_code, dpop_params(response)["error"]) == (401, "invalid_token")


@pytest.fixture(name="nonce_mcp", scope="module")
def _nonce_mcp(tmp_path_factory: pytest.TempPathFactory, demo_mcp: McpServer) -> Iterator[McpServer]:
    """A second MCP server in front of the demo issuer that requires DPoP nonces (``--dpop-nonce``)."""
    server = start_mcp_server(tmp_path_factory.mktemp("nonce_mcp"), free_port(), demo_mcp.issuer, "--dpop-nonce")
    yield server
    server.program.stop()


class TestNonces:
    def test_nonce_round_trip(self, nonce_mcp: McpServer, signer: Signer) -> None:
        """RFC 9449 §9: 401 ``use_dpop_nonce`` with ``DPoP-Nonce``; the proof with that nonce is accepted."""
        key = DpopKey.new()
        token = signer.token(cnf={"jkt": key.jkt}, aud=nonce_mcp.url)
        asked = send_dpop(nonce_mcp.url, token, key.proof("POST", nonce_mcp.url, access_token=token))
        assert (asked.status_code, dpop_params(asked)["error"]) == (401, "use_dpop_nonce")
        nonce = asked.headers["dpop-nonce"]

        proof = key.proof("POST", nonce_mcp.url, access_token=token, nonce=nonce)
        answered = send_dpop(nonce_mcp.url, token, proof)
        assert answered.status_code == 200, answered.text
        assert answered.headers["dpop-nonce"]
