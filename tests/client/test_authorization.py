"""The authorization request and the checks on its response (client/authorization.py)."""

import pytest

from mcp_authz.client.authorization import (
    PendingAuthorization,
    accept_response,
    authorization_url,
    check_iss,
    choose_scope,
    parse_response,
    start,
    with_offline_access,
)
from mcp_authz.client.errors import AuthorizationError, AuthorizationServerError
from mcp_authz.client.urls import UrlPolicy
from mcp_authz.shared.pkce import VERIFIER_PATTERN

ISSUER = "https://auth.example.com/mcp/demo"
LOOPBACK = UrlPolicy(loopback_http=True)
#: RFC 7636 Appendix B: this verifier's S256 challenge is E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM.
PENDING = PendingAuthorization(
    issuer=ISSUER,
    resource="https://mcp.example.com/mcp",
    client_id="c1",
    redirect_uri="http://127.0.0.1:8888/callback",
    scope=("mcp:read", "mcp:write"),
    state="s1",
    code_verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
)


class TestStart:
    """CL-17, CL-18: every request has a fresh verifier and state from the CSPRNG."""

    def test_two_requests_share_neither_verifier_nor_state(self) -> None:
        """CL-17, CL-18: two requests for the same client differ in both."""
        first, second = (
            start(issuer=ISSUER, resource="r", client_id="c", redirect_uri="u", scope=None) for _ in range(2)
        )
        assert first.code_verifier != second.code_verifier
        assert first.state != second.state

    def test_the_request_is_recorded_with_its_issuer_and_resource(self) -> None:
        """CL-20: issuer, resource, client, redirect URI and scope are bound to the verifier and state."""
        pending = start(
            issuer=ISSUER, resource="https://mcp.example.com/mcp", client_id="c1", redirect_uri="u", scope=("a",)
        )
        assert (pending.issuer, pending.resource, pending.client_id, pending.redirect_uri, pending.scope) == (
            ISSUER,
            "https://mcp.example.com/mcp",
            "c1",
            "u",
            ("a",),
        )

    def test_the_verifier_is_43_unreserved_characters(self) -> None:
        """CL-17, RFC 7636 §4.1: 32 random octets, base64url-encoded."""
        pending = start(issuer=ISSUER, resource="r", client_id="c", redirect_uri="u", scope=None)
        assert VERIFIER_PATTERN.fullmatch(pending.code_verifier)
        assert (len(pending.code_verifier), len(pending.state)) == (43, 43)


class TestAuthorizationUrl:
    """OAuth 2.1 §4.1.1, RFC 7636 §4.3, RFC 8707 §2 (CL-19), CL-22."""

    def test_it_carries_every_parameter(self) -> None:
        """The S256 challenge, state, resource and scope, in that order after the client's."""
        assert authorization_url("https://auth.example.com/authorize", PENDING, LOOPBACK) == (
            "https://auth.example.com/authorize?response_type=code&client_id=c1"
            "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcallback"
            "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
            "&state=s1&resource=https%3A%2F%2Fmcp.example.com%2Fmcp&scope=mcp%3Aread+mcp%3Awrite"
        )

    def test_the_endpoints_own_query_is_kept(self) -> None:
        """OAuth 2.1 §3.1: the endpoint URI's query component is retained."""
        url = authorization_url("https://auth.example.com/authorize?tenant=t1", PENDING, LOOPBACK)
        assert url.startswith("https://auth.example.com/authorize?tenant=t1&response_type=code&")

    @pytest.mark.parametrize(
        "endpoint",
        ["javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd", "http://auth.example.com/authorize"],
    )
    def test_unsafe_endpoints_are_never_opened(self, endpoint: str) -> None:
        """CL-22: only https, or http on loopback."""
        with pytest.raises(AuthorizationServerError, match="refusing to open the authorization endpoint"):
            authorization_url(endpoint, PENDING, LOOPBACK)


class TestChooseScope:
    """CL-15, MCP Scope Selection Strategy."""

    def test_the_challenge_scope_comes_first(self) -> None:
        """CL-15: the 401 challenge's scope is used as it is, even when the metadata lists more."""
        assert choose_scope(("a",), ("a", "b")) == (("a",), "from the 401 challenge")

    def test_then_every_supported_scope(self) -> None:
        """CL-15: without a challenge scope, every scope of scopes_supported is asked for."""
        assert choose_scope(None, ("a", "b")) == (("a", "b"), "the protected resource metadata's scopes_supported")

    def test_else_no_scope(self) -> None:
        """CL-15: with neither, the request carries no scope parameter."""
        assert choose_scope(None, None) == (None, "none given by the MCP server, so the request names no scope")


class TestOfflineAccess:
    """CL-16, MCP Refresh Tokens (SEP-2207): offline_access only where the authorization server lists it."""

    def test_added_when_the_authorization_server_lists_it(self) -> None:
        """CL-16: a client that wants a refresh token MAY ask for offline_access beside its scope."""
        assert with_offline_access(("mcp:read",), ("mcp:read", "offline_access")) == ("mcp:read", "offline_access")

    def test_never_when_the_authorization_server_does_not_list_it(self) -> None:
        """CL-16: asking for a scope the server does not support is an error (CONF offline-access-not-supported)."""
        assert with_offline_access(("mcp:read",), ("mcp:read",)) == ("mcp:read",)
        assert with_offline_access(("mcp:read",), None) == ("mcp:read",)

    def test_never_alone_nor_twice(self) -> None:
        """CL-16: without a scope to ask for, none is added; a scope that has it already keeps one."""
        assert with_offline_access(None, ("offline_access",)) is None
        assert with_offline_access(("offline_access", "a"), ("offline_access",)) == ("offline_access", "a")


class TestCheckIss:
    """CL-23, RFC 9207 §2.4: the four rows, and exact comparison."""

    @pytest.mark.parametrize(
        ("received", "advertised", "outcome"),
        [
            (ISSUER, True, "iss is exactly the issuer (promised by the metadata): accepted"),
            (ISSUER, False, "iss is exactly the issuer (not promised by the metadata): accepted"),
            (None, False, "no iss, and the metadata does not promise one: accepted"),
        ],
    )
    def test_accepted_rows(self, received: str | None, advertised: bool, outcome: str) -> None:
        """The rows that accept: the right iss, promised or not, and no iss when none is promised."""
        assert check_iss(received, ISSUER, advertised) == outcome

    def test_a_promised_iss_that_is_missing_is_rejected(self) -> None:
        """The metadata flag is true and the response has no iss."""
        with pytest.raises(AuthorizationError, match="but the response has no iss: rejected"):
            check_iss(None, ISSUER, advertised=True)

    @pytest.mark.parametrize(
        "received",
        [
            "https://auth.example.com/mcp/demo/",
            "https://AUTH.example.com/mcp/demo",
            "https://auth.example.com:443/mcp/demo",
            "https://auth.example.com/mcp/%64emo",
        ],
    )
    @pytest.mark.parametrize("advertised", [True, False])
    def test_a_different_spelling_is_another_issuer(self, received: str, advertised: bool) -> None:
        """No case folding, default port, trailing slash or percent-decoding."""
        with pytest.raises(AuthorizationError, match="possible mix-up attack"):
            check_iss(received, ISSUER, advertised)


class TestAcceptResponse:
    """The order of the checks: state, iss, error, code."""

    def test_a_good_response_gives_its_code(self) -> None:
        """Right state, right iss, a code: the code is accepted."""
        accepted = accept_response({"code": "c0de", "state": "s1", "iss": ISSUER}, PENDING, iss_advertised=True)
        assert accepted.code == "c0de"

    def test_state_is_checked_before_the_error(self) -> None:
        """CL-18: a forged response's error is not what the user is told."""
        with pytest.raises(AuthorizationError, match="state is not the one sent"):
            accept_response({"error": "access_denied", "state": "forged", "iss": ISSUER}, PENDING, True)

    def test_iss_is_checked_before_the_error(self) -> None:
        """CL-23: on a mismatch, error parameters are not acted on."""
        with pytest.raises(AuthorizationError, match="possible mix-up attack"):
            accept_response({"error": "access_denied", "state": "s1", "iss": "https://evil.example"}, PENDING, True)

    def test_a_checked_error_is_reported_with_its_description(self) -> None:
        """With state and iss right, the error and its description are the message."""
        with pytest.raises(AuthorizationError, match=r"^access_denied: no thanks$"):
            accept_response(
                {"error": "access_denied", "error_description": "no thanks", "state": "s1", "iss": ISSUER},
                PENDING,
                True,
            )

    def test_a_response_without_code_or_error_is_refused(self) -> None:
        """A response that is neither a success nor an error is not used."""
        with pytest.raises(AuthorizationError, match="neither a code nor an error"):
            accept_response({"state": "s1", "iss": ISSUER}, PENDING, True)


class TestParseResponse:
    """OAuth 2.1 §3.1: parameters must not be included more than once."""

    def test_it_form_decodes(self) -> None:
        """Values are form-decoded once, and only once."""
        assert parse_response("code=a%2Bb&state=s&iss=https%3A%2F%2Fa.example") == {
            "code": "a+b",
            "state": "s",
            "iss": "https://a.example",
        }

    def test_a_repeated_parameter_is_refused(self) -> None:
        """Two states in one response make it unusable."""
        with pytest.raises(AuthorizationError, match="repeats a parameter"):
            parse_response("code=a&state=s&state=t")
