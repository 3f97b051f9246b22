"""When refresh tokens are issued (AS-38, SEP-2207, docs/decisions/0018).

Every issuer lists ``offline_access`` in ``scopes_supported``, so MCP clients may ask for it. A
refresh token goes to a client registered with the ``refresh_token`` grant type, whether it asks
for ``offline_access`` or not, and never to one without it; ``offline_access`` itself is set
aside: it is not a scope of the MCP server, and no token carries it.
"""

import pytest

from tests.authorization_server.flows import Issuer, claims


@pytest.mark.parametrize("issuer_name", ["root", "demo", "other"])
def test_every_issuer_lists_offline_access(request: pytest.FixtureRequest, issuer_name: str):
    """AS-38, SEP-2207: offline_access in every issuer's scopes_supported (RFC 8414 §2)."""
    issuer: Issuer = request.getfixturevalue(issuer_name)
    base, _, path = issuer.url.partition("/mcp/")
    url = f"{base}/.well-known/oauth-authorization-server" + (f"/mcp/{path}" if path else "")

    assert issuer.http.get(url).json()["scopes_supported"][-1] == "offline_access"


def test_offline_access_with_the_refresh_token_grant_gets_a_refresh_token(demo: Issuer):
    """AS-38, CL-16, SEP-2207: accepted at /authorize; the tokens carry the MCP server's scopes only."""
    client = demo.register()

    body = demo.tokens(client, scope="mcp:read offline_access")

    assert body["refresh_token"]
    assert (body["scope"], claims(body["access_token"])["scope"]) == ("mcp:read", "mcp:read")
    refreshed = demo.refresh(client, body["refresh_token"], scope="mcp:read offline_access")
    assert refreshed.status_code == 200


def test_without_the_refresh_token_grant_no_refresh_token_even_for_offline_access(demo: Issuer):
    """AS-38: a client without a refresh_token grant type receives no refresh token, whatever it asks."""
    client = demo.register(grant_types=["authorization_code"])

    body = demo.tokens(client, scope="mcp:read offline_access")

    assert "refresh_token" not in body


def test_offline_access_alone_asks_for_the_default_scopes(demo: Issuer):
    """SEP-2207, OAuth 2.1 §3.2.2.1: with offline_access set aside nothing is asked, so the defaults apply."""
    client = demo.register()

    body = demo.tokens(client, scope="offline_access")

    assert (body["scope"], bool(body["refresh_token"])) == ("mcp:read", True)


def test_a_registration_may_name_offline_access(demo: Issuer):
    """RFC 7591 §2, SEP-2207: offline_access is offered, so a registered scope keeps it."""
    client = demo.register(scope="mcp:read offline_access")

    assert client.info["scope"] == "mcp:read offline_access"
