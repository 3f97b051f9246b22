"""``private_key_jwt`` client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9; AS-32, AS-56).

Clients sign assertions with keys made here; the server knows the public halves from the
registration (``jwks``), from a ``jwks_uri`` or from a client ID metadata document, each served
by a real loopback server (demo mode allows loopback fetches).
"""

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.clients.assertions import LEEWAY, VerifiedAssertion
from mcp_authz.authorization_server.clients.entities import Client, ClientCredentials
from mcp_authz.authorization_server.clients.metadata import parse_client_metadata
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database
from mcp_authz.authorization_server.errors import InvalidClient
from scripts.stack import start_authorization_server
from tests.authorization_server.flows import PUBLIC_CLIENT, Issuer, Registered
from tests.documents import Answer, DocumentServer, client_document, document_client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class Signer:
    """A client's key pair: signs assertions, publishes its public JWK."""

    private_key: Any
    alg: str
    kid: str

    @classmethod
    def new(cls, alg: str = "ES256") -> "Signer":
        if alg == "ES256":
            key: Any = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key, alg, secrets.token_hex(4))

    @property
    def jwks(self) -> dict[str, Any]:
        to_jwk = {"ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}.get(self.alg, RSAAlgorithm).to_jwk
        return {"keys": [{**to_jwk(self.private_key.public_key(), as_dict=True), "kid": self.kid, "use": "sig"}]}

    def assertion(self, client_id: str, audience: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": client_id, "sub": client_id, "aud": audience, "exp": now + 60, "iat": now}
        payload |= {"jti": secrets.token_urlsafe(16)} | claims
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, self.private_key, algorithm=self.alg, headers={"kid": self.kid})


def with_assertion(assertion: str, client_id: str | None = None) -> dict[str, str | None]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, "client_id": client_id}


def register(issuer: Issuer, **metadata: Any) -> httpx2.Response:
    body = {**PUBLIC_CLIENT, "token_endpoint_auth_method": "private_key_jwt", **metadata}
    return issuer.http.post(issuer.registration_endpoint, json=body)


def redeem(issuer: Issuer, client: Registered, signer: Signer, **claims: Any) -> httpx2.Response:
    """Authorize in demo mode, then redeem the code authenticating with a fresh assertion."""
    issued = issuer.code(client)
    form = {
        "grant_type": "authorization_code",
        "code": issued.value,
        "code_verifier": issued.pkce.verifier,
        "redirect_uri": issued.redirect_uri,
        "resource": issuer.resource,
    }
    assertion = signer.assertion(client.client_id, issuer.token_endpoint, **claims)
    return issuer.post_token({**form, **with_assertion(assertion)})


def refresh(issuer: Issuer, refresh_token: str, assertion: str) -> httpx2.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return issuer.post_token(form | with_assertion(assertion))


def error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


@pytest.fixture(name="signer")
def _signer() -> Signer:
    return Signer.new()


@pytest.fixture(name="client")
def _client(demo: Issuer, signer: Signer) -> Registered:
    response = register(demo, jwks=signer.jwks)
    assert response.status_code == 201, response.text
    return Registered(response.json())


class TestRegistration:
    def test_a_private_key_jwt_client_registers_its_keys_and_gets_no_secret(self, client: Registered, signer: Signer):
        """RFC 7591 §2, RFC 7523 §2.2: the method and the jwks are registered; no client_secret is issued."""
        assert client.auth_method == "private_key_jwt"
        assert client.info["jwks"] == signer.jwks
        assert "client_secret" not in client.info

    @pytest.mark.parametrize(
        ("metadata", "says"),
        [
            ({}, "private_key_jwt needs the client's public keys"),
            ({"jwks": {"keys": []}, "jwks_uri": "https://app.example.com/jwks.json"}, "must not both be present"),
            ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "public keys only"),
            ({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}}, "not a valid"),
            ({"jwks_uri": "http://app.example.com/jwks.json"}, "must be an https URL"),
        ],
    )
    def test_keys_are_required_exactly_once_and_public(self, demo: Issuer, metadata: dict[str, Any], says: str):
        """RFC 7591 §2: jwks or jwks_uri, not both; only public signing keys; jwks_uri over https."""
        response = register(demo, **metadata)

        assert error_of(response) == (400, "invalid_client_metadata")
        assert says in response.json()["error_description"]

    def test_a_private_key_in_jwks_is_refused(self, demo: Issuer, signer: Signer):
        """A private key must never be sent to the server."""
        private = {**ECAlgorithm.to_jwk(signer.private_key, as_dict=True), "kid": signer.kid}

        response = register(demo, jwks={"keys": [private]})

        assert error_of(response) == (400, "invalid_client_metadata")


class TestTheTokenEndpoint:
    @pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA"])
    def test_a_signed_assertion_authenticates_the_client(self, demo: Issuer, alg: str):
        """AS-32, RFC 7523 §3: each allowlisted asymmetric algorithm authenticates the client."""
        signer = Signer.new(alg)
        client = Registered(register(demo, jwks=signer.jwks).json())

        response = redeem(demo, client, signer)

        assert response.status_code == 200, response.text

    def test_the_issuer_is_an_accepted_audience_too(self, demo: Issuer, client: Registered, signer: Signer):
        """OIDC Core §9: aud may be the issuer identifier as well as the token endpoint."""
        assert redeem(demo, client, signer, aud=demo.url).status_code == 200

    def test_a_replayed_assertion_is_invalid_client(self, demo: Issuer, client: Registered, signer: Signer):
        """RFC 7523 §3 item 7: a jti is single-use until the assertion expires."""
        refresh_token = redeem(demo, client, signer).json()["refresh_token"]
        assertion = signer.assertion(client.client_id, demo.token_endpoint)
        first = refresh(demo, refresh_token, assertion)

        replayed = refresh(demo, first.json()["refresh_token"], assertion)

        assert first.status_code == 200, first.text
        assert error_of(replayed) == (401, "invalid_client")
        assert "already used" in replayed.json()["error_description"]

    def test_a_replay_after_exp_within_the_leeway_is_invalid_client(
        self, tmp_path: Path, mcp_port: int, http: httpx2.Client, demo_resource: str, signer: Signer
    ):
        """RFC 7523 §3 item 7 (issue 11 item 2): accepted until exp + leeway, the jti is kept as long.

        A short-lived assertion (exp one second ahead) is used once; presented again just after its
        exp, inside the 30 s leeway, it must be refused, not accepted again because its jti was forgotten.
        The server is in-process and its clock is moved past exp (pyjwt, which reads the real clock, has
        the leeway for it anyway).
        """
        server = start_authorization_server(tmp_path, mcp_port=mcp_port, in_process=True)
        try:
            registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
            issuer = Issuer(http, server.issuer_for("demo"), registration, resource=demo_resource)
            client = Registered(register(issuer, jwks=signer.jwks).json())
            with clock.frozen():
                refresh_token = redeem(issuer, client, signer).json()["refresh_token"]
                exp = int(clock.timestamp()) + 1
                assertion = signer.assertion(client.client_id, issuer.token_endpoint, exp=exp)
                first = refresh(issuer, refresh_token, assertion)
                clock.advance(exp + 0.2 - clock.timestamp())  # past exp, 30 s of leeway left

                replayed = refresh(issuer, first.json()["refresh_token"], assertion)
        finally:
            server.program.stop()

        assert first.status_code == 200, first.text
        assert error_of(replayed) == (401, "invalid_client")
        assert "already used" in replayed.json()["error_description"]

    @pytest.mark.parametrize(
        ("claims", "says"),
        [
            ({"aud": "https://elsewhere.example/token"}, "aud must name this issuer"),
            ({"exp": int(time.time()) - 120}, "has expired"),
            ({"exp": int(time.time()) + 3600}, "must expire within 300 s"),
            ({"exp": None}, "exp"),
            ({"jti": None}, "jti"),
            ({"iss": "someone-else"}, "iss must be the client_id"),
        ],
    )
    def test_bad_claims_are_invalid_client(
        self, demo: Issuer, client: Registered, signer: Signer, claims: dict[str, Any], says: str
    ):
        """RFC 7523 §3: iss and sub are the client, aud names us, exp is near, jti is present."""
        response = redeem(demo, client, signer, **claims)

        assert error_of(response) == (401, "invalid_client")
        assert says in response.json()["error_description"]

    def test_a_key_the_client_did_not_register_is_invalid_client(
        self, demo: Issuer, client: Registered, signer: Signer
    ):
        """RFC 7523 §3 item 9: the signature must verify with the client's own keys, whatever the kid says."""
        impostor = Signer(Signer.new().private_key, "ES256", signer.kid)

        response = redeem(demo, client, impostor)

        assert error_of(response) == (401, "invalid_client")
        assert "does not verify" in response.json()["error_description"]

    @pytest.mark.parametrize("alg", ["HS256", "none"])
    def test_symmetric_and_unsigned_assertions_are_refused(self, demo: Issuer, client: Registered, alg: str):
        """RFC 7523 §3, RFC 8725 §3.1: never none, never an HMAC keyed with something public."""
        claims = {"iss": client.client_id, "sub": client.client_id, "aud": demo.token_endpoint}
        claims |= {"exp": int(time.time()) + 60, "jti": secrets.token_hex(8)}
        forged = jwt.encode(claims, "x" * 32 if alg == "HS256" else None, algorithm=alg)

        response = redeem_with(demo, client, forged)

        assert error_of(response) == (401, "invalid_client")

    def test_an_assertion_with_a_secret_is_invalid_request(self, demo: Issuer, client: Registered, signer: Signer):
        """AS-32, OAuth 2.1 §2.4: one client authentication method per request."""
        assertion = signer.assertion(client.client_id, demo.token_endpoint)
        form = {"grant_type": "refresh_token", "refresh_token": "x", "client_secret": "s"} | with_assertion(assertion)

        in_body = demo.post_token(form)
        with_basic = demo.post_token(
            {"grant_type": "refresh_token", "refresh_token": "x"} | with_assertion(assertion),
            auth=(client.client_id, "s"),
        )

        assert error_of(in_body) == (400, "invalid_request")
        assert error_of(with_basic) == (400, "invalid_request")

    def test_a_wrong_assertion_type_is_invalid_request(self, demo: Issuer, client: Registered, signer: Signer):
        """RFC 7521 §4.2: client_assertion_type names the JWT bearer profile."""
        assertion = signer.assertion(client.client_id, demo.token_endpoint)
        form = {"grant_type": "refresh_token", "refresh_token": "x", "client_assertion_type": "urn:other"}

        response = demo.post_token(form | {"client_assertion": assertion})

        assert error_of(response) == (400, "invalid_request")

    def test_a_public_client_cannot_switch_to_an_assertion(self, demo: Issuer, signer: Signer):
        """The method is the one registered: a public client's id in a signed assertion is still refused."""
        public = demo.register()
        assertion = signer.assertion(public.client_id, demo.token_endpoint)

        response = demo.post_token({"grant_type": "refresh_token", "refresh_token": "x"} | with_assertion(assertion))

        assert error_of(response) == (401, "invalid_client")

    def test_revocation_authenticates_the_same_way(self, demo: Issuer, client: Registered, signer: Signer):
        """RFC 7009 §2.1: the client authenticates at /revoke as at /token; the token is then dead."""
        refresh_token = redeem(demo, client, signer).json()["refresh_token"]
        assertion = signer.assertion(client.client_id, demo.token_endpoint)

        revoked = demo.post_form(demo.revocation_endpoint, {"token": refresh_token} | with_assertion(assertion))
        after = refresh(demo, refresh_token, signer.assertion(client.client_id, demo.token_endpoint))

        assert revoked.status_code == 200, revoked.text
        assert error_of(after) == (400, "invalid_grant")


def redeem_with(issuer: Issuer, client: Registered, assertion: str) -> httpx2.Response:
    issued = issuer.code(client)
    form = {"grant_type": "authorization_code", "code": issued.value, "code_verifier": issued.pkce.verifier}
    return issuer.post_token(form | {"redirect_uri": issued.redirect_uri} | with_assertion(assertion))


class TestKeysFetchedFromAUrl:
    def test_a_registered_jwks_uri_is_fetched(self, demo: Issuer, signer: Signer, documents: DocumentServer):
        """RFC 7591 §2 jwks_uri, fetched with the SSRF-safe fetcher (decision 0015)."""
        jwks_uri = documents.serve(f"/jwks/{signer.kid}.json", Answer.json(signer.jwks))
        client = Registered(register(demo, jwks_uri=jwks_uri).json())

        assert redeem(demo, client, signer).status_code == 200

    def test_a_document_client_with_private_key_jwt(self, demo: Issuer, signer: Signer, documents: DocumentServer):
        """AS-56, CIMD §6.2: a document client authenticates with private_key_jwt, keys from its document."""
        path = f"/signed/{signer.kid}.json"
        url = documents.url(path)
        document = client_document(url, token_endpoint_auth_method="private_key_jwt", jwks=signer.jwks)
        documents.serve(path, Answer.json(document))
        client = document_client(url)

        accepted = redeem(demo, client, signer)
        without_assertion = demo.exchange(client, demo.code(client))

        assert accepted.status_code == 200, accepted.text
        assert error_of(without_assertion) == (401, "invalid_client")


class TestTheJtiMemory:
    """The single-use ``jti`` store itself (RFC 7523 §3 item 7), with the time moved by the test (``clock.advance``)."""

    @pytest.fixture(name="store")
    async def _store(self, tmp_path: Path) -> AsyncIterator[tuple[Database, Client]]:
        db = await Database.open(tmp_path / "as.sqlite3")
        body = {"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "private_key_jwt"}
        metadata = parse_client_metadata(
            body | {"jwks": Signer.new().jwks},
            grant_types_supported=("authorization_code",),
            auth_methods_supported=("private_key_jwt",),
            scopes_offered=(),
        )
        registration = await db.run(lambda tx: ClientService().register(tx, "http://localhost:9000", metadata))
        yield db, registration.client
        await db.close()

    @staticmethod
    async def spend(db: Database, client: Client, jti: str, exp: datetime) -> Client:
        credentials = ClientCredentials(client.client_id, "private_key_jwt", assertion="signed elsewhere")
        assertion = VerifiedAssertion(client.client_id, jti, exp)
        return await db.run(lambda tx: ClientService().authenticate(tx, client, credentials, assertion))

    @pytest.mark.anyio
    async def test_a_jti_is_remembered_until_exp_plus_the_leeway(self, store: tuple[Database, Client]):
        """RFC 7523 §3 item 7 (issue 11 item 2): within the leeway after exp the jti is still spent."""
        db, client = store
        with clock.frozen():
            exp = clock.now() + timedelta(seconds=60)
            await self.spend(db, client, "jti-1", exp)

            clock.advance(60 + LEEWAY - 1)
            with pytest.raises(InvalidClient, match="already used"):
                await self.spend(db, client, "jti-1", exp)

    @pytest.mark.anyio
    async def test_a_jti_is_forgotten_once_the_leeway_is_over(self, store: tuple[Database, Client]):
        """RFC 7523 §3 item 7: past exp + leeway the assertion is refused anyway, so its row may go."""
        db, client = store
        with clock.frozen():
            exp = clock.now() + timedelta(seconds=60)
            await self.spend(db, client, "jti-1", exp)

            clock.advance(60 + LEEWAY + 1)
            await self.spend(db, client, "jti-2", exp + timedelta(seconds=120))

        remaining = await db.run(lambda tx: tx.fetch_all("SELECT expires_at FROM client_assertions"))
        assert [clock.from_db(row["expires_at"]) for row in remaining] == [exp + timedelta(seconds=120)]
