"""Dynamic client registration (client/registration.py): CL-12, RFC 7591."""

import json

import httpx2
import pytest

from mcp_authz.client.errors import RegistrationError
from mcp_authz.client.registration import Registration, client_metadata, register
from mcp_authz.shared.metadata import AuthorizationServerMetadata

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.com/mcp/demo"
METADATA = AuthorizationServerMetadata(
    issuer=ISSUER,
    authorization_endpoint=f"{ISSUER}/authorize",
    token_endpoint=f"{ISSUER}/token",
    response_types_supported=("code",),
    registration_endpoint="https://auth.example.com/register",
)


def answering(status: int, body: object) -> httpx2.AsyncClient:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=json.dumps(body).encode())

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler))


class TestClientMetadata:
    """CL-12: the registration request's body."""

    def test_a_public_native_client_with_refresh_tokens(self) -> None:
        """CL-12: every field MCP asks a DCR client to send, application_type included."""
        assert client_metadata("http://127.0.0.1:8888/callback", "Tutorial") == {
            "redirect_uris": ["http://127.0.0.1:8888/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "client_name": "Tutorial",
            "application_type": "native",
        }


class TestRegister:
    """RFC 7591 §3: the request, the response, and the refusals."""

    async def test_the_registration_is_bound_to_the_issuer(self) -> None:
        """CL-14: the registration records the issuer it was made with."""
        async with answering(201, {"client_id": "c1", "token_endpoint_auth_method": "none"}) as http:
            made = await register(http, METADATA, "http://127.0.0.1:8888/callback", "Tutorial")
        assert made == Registration(issuer=ISSUER, client_id="c1", token_endpoint_auth_method="none")

    async def test_a_refusal_shows_the_servers_error(self) -> None:
        """RFC 7591 §3.2.2 and CL-12: the error and its description are shown to the user."""
        refusal = {"error": "invalid_redirect_uri", "error_description": "loopback only"}
        async with answering(400, refusal) as http:
            with pytest.raises(
                RegistrationError, match=r"^the registration was refused: invalid_redirect_uri: loopback"
            ):
                await register(http, METADATA, "http://127.0.0.1:8888/callback", "Tutorial")

    async def test_no_registration_endpoint(self) -> None:
        """An authorization server without registration_endpoint cannot register this client."""
        no_endpoint = AuthorizationServerMetadata(
            issuer=ISSUER, authorization_endpoint="a", token_endpoint="t", response_types_supported=("code",)
        )
        async with answering(201, {}) as http:
            with pytest.raises(RegistrationError, match="has no registration_endpoint"):
                await register(http, no_endpoint, "http://127.0.0.1:8888/callback", "Tutorial")
