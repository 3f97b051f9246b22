"""The token endpoint (client/tokens.py): CL-13, CL-19, CL-24, CL-25, CL-29.

HTTP goes to an ``httpx2.MockTransport`` that keeps the requests and answers from a list.
"""

import json
import re
from dataclasses import replace
from urllib.parse import parse_qsl

import httpx2
import pytest

from mcp_authz.client.authorization import PendingAuthorization
from mcp_authz.client.errors import InvalidClient, TokenError
from mcp_authz.client.registration import Registration
from mcp_authz.client.tokens import Tokens, exchange_code, refresh, revoke
from mcp_authz.shared.metadata import AuthorizationServerMetadata

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.com/mcp/demo"
RESOURCE = "https://mcp.example.com/mcp"
METADATA = AuthorizationServerMetadata(
    issuer=ISSUER,
    authorization_endpoint=f"{ISSUER}/authorize",
    token_endpoint=f"{ISSUER}/token",
    response_types_supported=("code",),
)
PUBLIC = Registration(issuer=ISSUER, client_id="c1")
PENDING = PendingAuthorization(
    issuer=ISSUER,
    resource=RESOURCE,
    client_id="c1",
    redirect_uri="http://127.0.0.1:8888/callback",
    scope=("mcp:read",),
    state="s1",
    code_verifier="v" * 43,
)
HELD = Tokens(resource=RESOURCE, issuer=ISSUER, client_id="c1", access_token="at-0", refresh_token="rt-0")
ISSUED = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 900, "refresh_token": "rt-1"}


class TokenEndpoint:
    """Answers every request with one status and body, and keeps the requests."""

    def __init__(self, status: int = 200, body: object = ISSUED) -> None:
        self.status = status
        self.body = body
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(self.status, content=json.dumps(self.body).encode())

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.requests[-1].content.decode()))


class TestExchangeCode:
    """OAuth 2.1 §4.1.3: the code for tokens."""

    async def test_the_request_carries_code_verifier_redirect_uri_resource_and_client_id(self) -> None:
        """CL-25, CL-19: a public client's code exchange."""
        endpoint = TokenEndpoint()
        async with endpoint.client() as http:
            tokens = await exchange_code(http, METADATA, PUBLIC, PENDING, "c0de")
        assert str(endpoint.requests[0].url) == f"{ISSUER}/token"
        assert endpoint.form() == {
            "grant_type": "authorization_code",
            "code": "c0de",
            "code_verifier": "v" * 43,
            "redirect_uri": "http://127.0.0.1:8888/callback",
            "resource": RESOURCE,
            "client_id": "c1",
        }
        assert (tokens.access_token, tokens.refresh_token, tokens.resource, tokens.issuer) == (
            "at-1",
            "rt-1",
            RESOURCE,
            ISSUER,
        )

    async def test_a_code_is_never_sent_to_another_issuer(self) -> None:
        """CL-24: the code goes to the token endpoint of the issuer the request was recorded with."""
        endpoint = TokenEndpoint()
        other = replace(METADATA, issuer="https://other.example.com")
        async with endpoint.client() as http:
            with pytest.raises(
                TokenError, match=re.escape("is not sent to the token endpoint of https://other.example.com")
            ):
                await exchange_code(http, other, PUBLIC, PENDING, "c0de")
        assert endpoint.requests == []


class TestRefresh:
    """OAuth 2.1 §4.3: a refresh token for new tokens."""

    async def test_the_request_names_the_resource(self) -> None:
        """CL-29, CL-19."""
        endpoint = TokenEndpoint()
        async with endpoint.client() as http:
            renewed = await refresh(http, METADATA, PUBLIC, HELD)
        assert endpoint.form() == {
            "grant_type": "refresh_token",
            "refresh_token": "rt-0",
            "resource": RESOURCE,
            "client_id": "c1",
        }
        assert (renewed.access_token, renewed.refresh_token) == ("at-1", "rt-1")

    async def test_without_a_new_refresh_token_the_old_one_is_kept(self) -> None:
        """OAuth 2.1 §4.3.3: no refresh token in the response means the old one stays valid."""
        endpoint = TokenEndpoint(body={"access_token": "at-1", "token_type": "Bearer"})
        async with endpoint.client() as http:
            renewed = await refresh(http, METADATA, PUBLIC, HELD)
        assert renewed.refresh_token == "rt-0"


class TestClientAuthentication:
    """CL-13: the client authenticates as it was registered."""

    async def test_client_secret_basic(self) -> None:
        """RFC 6749 §2.3.1: id and secret form-encoded, then Basic."""
        endpoint = TokenEndpoint()
        confidential = Registration(ISSUER, "c 1", "client_secret_basic", "s:cret")
        async with endpoint.client() as http:
            await refresh(http, METADATA, confidential, HELD)
        assert endpoint.requests[0].headers["authorization"] == "Basic YysxOnMlM0FjcmV0"  # c+1:s%3Acret
        assert "client_id" not in endpoint.form()

    async def test_client_secret_post(self) -> None:
        """The secret goes in the form, next to the client_id."""
        endpoint = TokenEndpoint()
        confidential = Registration(ISSUER, "c1", "client_secret_post", "secret")
        async with endpoint.client() as http:
            await refresh(http, METADATA, confidential, HELD)
        assert "authorization" not in endpoint.requests[0].headers
        assert (endpoint.form()["client_id"], endpoint.form()["client_secret"]) == ("c1", "secret")


class TestErrors:
    """RFC 6749 §5.2: what the token endpoint's errors become."""

    async def test_invalid_client_is_its_own_error(self) -> None:
        """RFC 6749 §5.2: the flow registers again on invalid_client."""
        endpoint = TokenEndpoint(401, {"error": "invalid_client", "error_description": "unknown client"})
        async with endpoint.client() as http:
            with pytest.raises(InvalidClient, match=r"^the token endpoint does not accept client c1: invalid_client"):
                await refresh(http, METADATA, PUBLIC, HELD)

    async def test_invalid_grant_is_a_token_error(self) -> None:
        """invalid_grant is a plain token error, which makes the flow authorize again."""
        endpoint = TokenEndpoint(400, {"error": "invalid_grant"})
        async with endpoint.client() as http:
            with pytest.raises(TokenError) as raised:
                await refresh(http, METADATA, PUBLIC, HELD)
        assert (type(raised.value), str(raised.value)) == (
            TokenError,
            "the token endpoint refused the request: invalid_grant",
        )

    async def test_a_response_that_is_not_a_bearer_token(self) -> None:
        """A token of another type is not used as a bearer token."""
        endpoint = TokenEndpoint(body={"access_token": "at", "token_type": "MAC"})
        async with endpoint.client() as http:
            with pytest.raises(TokenError, match="token_type 'MAC' is neither Bearer nor DPoP"):
                await refresh(http, METADATA, PUBLIC, HELD)

    async def test_a_dpop_token_for_a_request_without_a_proof_is_refused(self) -> None:
        """RFC 9449 §5: a DPoP token is only for the key of a proof; without one the client cannot use it."""
        endpoint = TokenEndpoint(body={"access_token": "at", "token_type": "DPoP"})
        async with endpoint.client() as http:
            with pytest.raises(TokenError, match="this request carried no DPoP proof"):
                await refresh(http, METADATA, PUBLIC, HELD)


class TestRevoke:
    """RFC 7009 §2.1: the refresh token (else the access token), authenticated as at the token endpoint."""

    async def test_the_refresh_token_with_its_hint_and_basic_auth(self) -> None:
        """A confidential client sends token and token_type_hint, its credentials in Basic."""
        endpoint = TokenEndpoint(body={})
        confidential = Registration(ISSUER, "c 1", "client_secret_basic", "s:cret")
        async with endpoint.client() as http:
            hint = await revoke(http, f"{ISSUER}/revoke", confidential, HELD)
        assert (hint, str(endpoint.requests[0].url)) == ("refresh_token", f"{ISSUER}/revoke")
        assert endpoint.form() == {"token": "rt-0", "token_type_hint": "refresh_token"}
        assert endpoint.requests[0].headers["authorization"] == "Basic YysxOnMlM0FjcmV0"

    async def test_without_a_refresh_token_the_access_token(self) -> None:
        """A public client with no refresh token revokes its access token, naming its client_id."""
        endpoint = TokenEndpoint(body={})
        async with endpoint.client() as http:
            await revoke(http, f"{ISSUER}/revoke", PUBLIC, replace(HELD, refresh_token=None))
        assert endpoint.form() == {"token": "at-0", "token_type_hint": "access_token", "client_id": "c1"}

    async def test_an_error_response_is_a_token_error(self) -> None:
        """RFC 7009 §2.2.1: an error response is reported with its code."""
        endpoint = TokenEndpoint(400, {"error": "unsupported_token_type"})
        async with endpoint.client() as http:
            with pytest.raises(TokenError) as raised:
                await revoke(http, f"{ISSUER}/revoke", PUBLIC, HELD)
        assert str(raised.value) == "the revocation endpoint refused the request: unsupported_token_type"
