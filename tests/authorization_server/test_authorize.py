"""The authorization endpoint (OAuth 2.1 §4.1.1, §4.1.2, RFC 7636, RFC 8707, RFC 9207), in demo mode."""

import html
import re

import httpx2
import pytest

from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import (
    Issuer,
    Param,
    Pkce,
    claims,
    journey_of,
    redirect_params,
    redirect_target,
    rows,
)

HTTPS_CALLBACK = "https://client.example/cb"


class TestErrorsShownOnAPage:
    """AS-14: until the client and its redirect URI are known, errors go on a page, never to a redirect."""

    @pytest.mark.parametrize(
        "params",
        [
            {"client_id": "never-registered"},
            {"client_id": None},
            {"redirect_uri": HTTPS_CALLBACK + "/"},
            {"redirect_uri": HTTPS_CALLBACK + "?x=1"},
            {"redirect_uri": "https://evil.example/cb"},
            {"redirect_uri": "http://localhost:8765/callback"},
            {"redirect_uri": "http://127.0.0.1:8765/other"},
            {"redirect_uri": "http://[::1/callback"},
            {"redirect_uri": None},
        ],
        ids=lambda params: repr(params),
    )
    def test_an_unknown_client_or_unregistered_redirect_uri_gets_a_400_page_and_no_redirect(
        self, demo: Issuer, params: dict[str, Param]
    ):
        """AS-14, AS-15, OAuth 2.1 §4.1.2.1: exact string match; redirect_uri is required with two registered."""
        client = demo.register(redirect_uris=["http://127.0.0.1:8765/callback", HTTPS_CALLBACK])

        response = demo.authorize(client, **{"redirect_uri": HTTPS_CALLBACK, **params})

        assert response.status_code == 400
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "location" not in response.headers

    def test_a_repeated_client_id_gets_a_400_page_and_no_redirect(self, demo: Issuer):
        """AS-13, OAuth 2.1 §3.1: a parameter sent twice is invalid_request, shown before any redirect."""
        client = demo.register()

        response = demo.authorize(client, client_id=[client.client_id, client.client_id])

        assert response.status_code == 400
        assert "location" not in response.headers
        assert "<code>invalid_request</code>" in response.text

    def test_a_client_of_one_mcp_issuer_is_unknown_at_another(self, demo: Issuer, other: Issuer, root: Issuer):
        """Issuer per MCP server: a client is bound to the issuer it registered with."""
        client = demo.register()

        at_other = other.authorize(client)
        at_root = root.authorize(client, resource=demo.resource)

        assert (at_other.status_code, at_root.status_code) == (400, 400)
        assert "location" not in at_other.headers
        assert "location" not in at_root.headers


class TestLoopbackRedirects:
    def test_a_loopback_redirect_uri_may_use_any_port(self, demo: Issuer):
        """AS-15, RFC 8252 §7.3: registered http://127.0.0.1/callback, asked for with port 53211."""
        client = demo.register(redirect_uris=["http://127.0.0.1/callback"])

        response = demo.authorize(client, redirect_uri="http://127.0.0.1:53211/callback")

        assert response.status_code == 303
        assert redirect_target(response) == "http://127.0.0.1:53211/callback"
        assert "code" in redirect_params(response)

    def test_a_registered_loopback_port_may_differ_at_request_time(self, demo: Issuer):
        """AS-15, USER-NEEDS theme 5: a client that falls back to another port still gets its code."""
        client = demo.register(redirect_uris=["http://localhost:33418/callback"])

        response = demo.authorize(client, redirect_uri="http://localhost:40001/callback")

        assert response.status_code == 303
        assert redirect_target(response) == "http://localhost:40001/callback"


class TestErrorsSentBackToTheClient:
    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"response_type": "token"}, "unsupported_response_type"),
            ({"response_type": "code id_token"}, "unsupported_response_type"),
            ({"code_challenge": None}, "invalid_request"),
            ({"code_challenge_method": "plain"}, "invalid_request"),
            ({"code_challenge_method": None}, "invalid_request"),
            ({"code_challenge": "too-short"}, "invalid_request"),
            ({"code_challenge": "a" * 129}, "invalid_request"),
            ({"code_challenge": "+/=" * 15}, "invalid_request"),
            ({"scope": 'mcp:read "quoted"'}, "invalid_scope"),
        ],
        ids=lambda value: repr(value),
    )
    def test_a_bad_request_of_a_known_client_is_redirected_with_error_state_and_iss(
        self, demo: Issuer, params: dict[str, Param], error: str
    ):
        """AS-17, AS-18, AS-20, AS-27, OAuth 2.1 §4.1.2.1: error, state and iss, back at the redirect URI."""
        client = demo.register()

        response = demo.authorize(client, state="s-1", **params)

        assert response.status_code == 303
        assert redirect_target(response) == client.redirect_uri
        returned = redirect_params(response)
        assert returned.pop("error_description")
        assert returned == {"error": error, "state": "s-1", "iss": demo.url}

    def test_a_resource_of_another_mcp_server_is_invalid_target(self, demo: Issuer, other: Issuer):
        """AS-19, RFC 8707 §2: this issuer only mints tokens for its own MCP server."""
        client = demo.register()

        response = demo.authorize(client, state="s-2", resource=other.resource)

        assert response.status_code == 303
        assert {name: value for name, value in redirect_params(response).items() if name != "error_description"} == {
            "error": "invalid_target",
            "state": "s-2",
            "iss": demo.url,
        }

    def test_a_repeated_state_is_invalid_request_without_echoing_either_value(self, demo: Issuer):
        """AS-13, OAuth 2.1 §3.1: state sent twice is invalid_request; neither value is copied back."""
        client = demo.register()

        response = demo.authorize(client, state=["a", "b"])

        returned = redirect_params(response)
        assert (returned["error"], returned["iss"]) == ("invalid_request", demo.url)
        assert "state" not in returned


class TestNonLoopbackRedirectsBeforeConsent:
    def test_an_error_for_an_https_redirect_uri_is_a_page_with_a_link_not_a_redirect(self, demo: Issuer):
        """OAuth 2.1 §7.12.2: before the user approved anything, no automatic redirect to a web client."""
        client = demo.register(redirect_uris=[HTTPS_CALLBACK])

        response = demo.authorize(client, state="s-3", code_challenge_method="plain")

        assert response.status_code == 400
        assert "location" not in response.headers
        [link] = re.findall(r'<a href="([^"]+)">', response.text)
        link = html.unescape(link)
        assert link.startswith(HTTPS_CALLBACK + "?error=invalid_request&")
        assert "&state=s-3&iss=" in link

    def test_error_descriptions_stay_readable_in_the_characters_oauth_allows(self, demo: Issuer):
        """RFC 6749 §4.1.2.1: error_description is ASCII without quote or backslash; section signs are spelled out."""
        client = demo.register()

        response = demo.authorize(client, code_challenge_method="plain")

        assert redirect_params(response)["error_description"] == (
            "code_challenge_method must be S256; plain is not accepted (RFC 7636 section 4.3)"
        )

    def test_a_code_for_an_https_redirect_uri_is_still_redirected(self, demo: Issuer):
        """OAuth 2.1 §4.1.2: after approval (automatic in demo mode) the code goes back with a 303."""
        client = demo.register(redirect_uris=[HTTPS_CALLBACK])

        response = demo.authorize(client)

        assert response.status_code == 303
        assert redirect_target(response) == HTTPS_CALLBACK


class TestSuccessfulAuthorization:
    def test_the_redirect_carries_code_state_and_iss_exactly_once(self, demo_as: AuthorizationServer, demo: Issuer):
        """AS-26, AS-28, RFC 9207 §2: iss is the metadata issuer, character for character; state is copied exactly."""
        client = demo.register()
        metadata = demo.http.get(f"{demo_as.url}/.well-known/oauth-authorization-server/mcp/demo").json()
        state = "a state/with?odd=chars&and spaces"

        response = demo.authorize(client, state=state)

        returned = redirect_params(response)
        assert sorted(returned) == ["code", "iss", "state"]
        assert returned["state"] == state
        assert returned["iss"] == metadata["issuer"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", returned["code"])

    def test_the_redirect_is_a_303_never_a_307(self, demo: Issuer):
        """AS-25, OAuth 2.1 §1.6: a 307 would replay a POST to the client; 303 makes it a GET."""
        response = demo.authorize(demo.register())

        assert response.status_code == 303

    def test_a_query_in_the_registered_redirect_uri_is_kept(self, demo: Issuer):
        """OAuth 2.1 §4.1.2: the response parameters are added to the redirect URI's existing query."""
        client = demo.register(redirect_uris=["http://127.0.0.1:8765/callback?session=7"])

        response = demo.authorize(client, state="s-4")

        assert response.headers["location"].startswith("http://127.0.0.1:8765/callback?session=7&code=")
        assert redirect_params(response)["session"] == "7"

    def test_without_a_resource_the_mcp_issuer_uses_its_own_server(self, demo: Issuer):
        """AS-19, RFC 9068 §3: a request without resource gets the issuer's MCP server as audience."""
        client = demo.register()

        response = demo.authorize(client, resource=None)

        assert response.status_code == 303
        assert "code" in redirect_params(response)

    def test_the_root_issuer_issues_a_code_for_the_mcp_server_named_in_resource(self, root: Issuer, demo: Issuer):
        """RFC 8707 §2: at the root issuer the resource picks the MCP server; iss is the root issuer."""
        client = root.register()

        response = root.authorize(client, resource=demo.resource, state="s-5")

        returned = redirect_params(response)
        assert (returned["state"], returned["iss"]) == ("s-5", root.url)
        assert "code" in returned

    def test_the_root_issuer_needs_a_resource_when_no_default_is_configured(
        self, notes_as: AuthorizationServer, http: httpx2.Client
    ):
        """RFC 8707 §2: without a default MCP server, the root issuer answers invalid_target."""
        root = Issuer(http, notes_as.url, f"{notes_as.url}/register")
        client = root.register()

        response = root.authorize(client, Pkce.new(), resource=None)

        assert redirect_params(response)["error"] == "invalid_target"

    def test_the_root_issuer_defaults_to_its_default_mcp_server(self, root: Issuer, demo_resource: str):
        """AS-19, RFC 9068 §3: without resource, the token is for the default MCP server (demo mode: demo)."""
        client = root.register()

        tokens = root.tokens(client, resource=None)

        assert claims(tokens["access_token"])["aud"] == demo_resource


def requested_detail(server: AuthorizationServer, client_id: str) -> str:
    """The detail of the ``authorization_requested`` step of a client's journey."""
    journey = journey_of(server.db, client_id)
    [row] = rows(
        server.db,
        "SELECT detail FROM journey_events WHERE journey_id = ? AND step = 'authorization_requested'",
        journey["id"],
    )
    return str(row["detail"])


class TestScopeIsNarrowed:
    """Issue 15, real clients, RFC 6749 §3.3: scopes the MCP server does not offer are dropped at /authorize,
    as registration drops them (RFC 7591 §2), instead of refusing the request with invalid_scope."""

    def test_asking_for_every_scope_the_root_issuer_lists_grants_the_mcp_servers(
        self, root: Issuer, demo: Issuer, other: Issuer, demo_as: AuthorizationServer
    ):
        """Issue 15: a client asks for all of ``scopes_supported`` (every MCP server's at the root issuer);
        the token gets the demo server's, and the journey records what was dropped."""
        listed = root.http.get(f"{demo_as.url}/.well-known/oauth-authorization-server").json()["scopes_supported"]
        assert {"files:read", "mcp:read", "mcp:write", "offline_access"} <= set(listed)
        client = root.register()

        body = root.tokens(client, scope=" ".join(listed), resource=demo.resource)

        assert body["scope"] == "mcp:read mcp:write"
        assert claims(body["access_token"])["scope"] == "mcp:read mcp:write"
        detail = requested_detail(demo_as, client.client_id)
        assert detail.startswith(f"scope 'mcp:read mcp:write' for {demo.resource}; not offered by this MCP server")
        assert "files:read files:write" in detail
        assert "offline_access" not in detail  # SEP-2207: set aside, not dropped

    def test_a_scope_of_another_mcp_server_is_dropped(self, demo: Issuer, demo_as: AuthorizationServer):
        """Issue 15, RFC 6749 §3.3: what is offered is granted, the rest dropped and recorded."""
        client = demo.register()

        body = demo.tokens(client, scope="mcp:write calendar:read")

        assert body["scope"] == "mcp:write"
        assert requested_detail(demo_as, client.client_id).endswith("dropped: 'calendar:read'")

    def test_nothing_offered_left_gets_the_default_scope(self, demo: Issuer, demo_as: AuthorizationServer):
        """Issue 15, RFC 6749 §3.3: "the authorization server MUST either process the request using a
        pre-defined default value or fail"; this server uses its default (mcp:read), and says so."""
        client = demo.register()

        body = demo.tokens(client, scope="calendar:read calendar:write")

        assert body["scope"] == "mcp:read"
        assert requested_detail(demo_as, client.client_id) == (
            f"scope 'mcp:read' for {demo.resource};"
            " not offered by this MCP server, dropped: 'calendar:read calendar:write'"
        )

    def test_a_long_list_of_dropped_scopes_is_counted_not_copied(self, demo: Issuer, demo_as: AuthorizationServer):
        """Issue 15: the journey names the first ten dropped scopes and counts the rest."""
        client = demo.register()

        demo.tokens(client, scope=" ".join(f"x:{n}" for n in range(25)))

        shown = " ".join(f"x:{n}" for n in range(10))
        assert requested_detail(demo_as, client.client_id).endswith(f"dropped: '{shown}' and 15 more")


class TestResourceSpellings:
    @pytest.mark.parametrize("prefix", ["HTTP://LOCALHOST", "http://LocalHost"])
    def test_an_upper_case_scheme_or_host_is_the_same_resource(self, demo: Issuer, prefix: str):
        """Issue 15, MCP Canonical Server URI, RFC 3986 §6.2.2.1: scheme and host are case-insensitive;
        the token's aud is the resource as registered."""
        client = demo.register()

        body = demo.tokens(client, resource=demo.resource.replace("http://localhost", prefix))

        assert claims(body["access_token"])["aud"] == demo.resource

    @pytest.mark.parametrize("spelling", ["{origin}/", "{origin}", "{upper}/"], ids=["slash", "bare", "upper+slash"])
    def test_a_bare_origin_with_a_trailing_slash_is_the_same_resource(
        self, origin: Issuer, origin_resource: str, spelling: str
    ):
        """Issue 15, RFC 3986 §6.2.3 (an empty path is "/" for http), MCP Canonical Server URI: a client
        that sends ``http://localhost:PORT/`` gets a token for the MCP server ``http://localhost:PORT``."""
        resource = spelling.format(origin=origin_resource, upper=origin_resource.upper())
        client = origin.register()

        body = origin.tokens(client, resource=resource)

        assert claims(body["access_token"])["aud"] == origin_resource

    def test_a_trailing_slash_on_a_longer_path_is_another_resource(self, demo: Issuer):
        """RFC 3986 §6.2.3 normalises only the empty path: /mcp/ is not /mcp (invalid_target)."""
        client = demo.register()

        response = demo.authorize(client, state="s-9", resource=demo.resource + "/")

        assert redirect_params(response)["error"] == "invalid_target"


class TestParameterSyntax:
    def test_an_unknown_parameter_is_ignored(self, demo: Issuer):
        """AS-13, OAuth 2.1 §3.1: the server MUST ignore unrecognized request parameters."""
        client = demo.register()

        response = demo.authorize(client, prompt="consent", nonce="n-1", x_custom="1")

        assert sorted(redirect_params(response)) == ["code", "iss", "state"]

    @pytest.mark.parametrize("name", ["code_challenge", "code_challenge_method"])
    def test_a_parameter_sent_without_a_value_counts_as_absent(self, demo: Issuer, name: str):
        """AS-13, OAuth 2.1 §3.1: a parameter without a value is treated as omitted, so PKCE is missing."""
        client = demo.register()

        empty = redirect_params(demo.authorize(client, state="s-6", **{name: ""}))
        absent = redirect_params(demo.authorize(client, state="s-6", **{name: None}))

        assert empty == absent
        assert empty["error"] == "invalid_request"

    @pytest.mark.parametrize(
        "resource",
        ["{resource}#fragment", "/mcp", "urn:example:mcp", "not a uri"],
        ids=["fragment", "relative", "urn", "not-a-uri"],
    )
    def test_a_resource_that_is_not_this_servers_absolute_uri_is_invalid_target(self, demo: Issuer, resource: str):
        """AS-19, RFC 8707 §2: resource is an absolute URI without a fragment, naming a known MCP server."""
        client = demo.register()

        response = demo.authorize(client, state="s-7", resource=resource.format(resource=demo.resource))

        returned = redirect_params(response)
        assert (returned["error"], returned["state"], returned["iss"]) == ("invalid_target", "s-7", demo.url)
        assert "code" not in returned

    @pytest.mark.parametrize("host", ["localhost", "[::1]"])
    def test_a_portless_loopback_registration_takes_any_port(self, demo: Issuer, host: str):
        """AS-15, RFC 8252 §7.3, USER-NEEDS theme 5: a client registered as http://localhost/callback
        (as Claude Code's metadata document lists it) receives its code on the port it listens on."""
        client = demo.register(redirect_uris=[f"http://{host}/callback"])

        response = demo.authorize(client, redirect_uri=f"http://{host}:53682/callback")

        assert response.status_code == 303
        assert redirect_target(response) == f"http://{host}:53682/callback"
        assert "code" in redirect_params(response)
