"""The tutorial output (client/tutorial.py, client/json_output.py): secrets masked wherever they appear (CL-28)."""

import io
import json

import httpx2

from mcp_authz.client.json_output import JsonTutorial
from mcp_authz.client.tutorial import Tutorial, mask, masked, masked_header, masked_url


class TestMask:
    """CL-28: what is left of a secret when it is shown."""

    def test_six_characters_then_an_ellipsis(self) -> None:
        """A token shows its first six characters."""
        assert mask("eyJhbGciOiJFUzI1NiJ9.payload.signature") == "eyJhbG…"

    def test_a_short_secret_shows_at_most_half(self) -> None:
        """A short secret never shows more than half of itself."""
        assert mask("abcd") == "ab…"


class TestMasked:
    """CL-28: secrets in JSON, URLs and headers."""

    def test_secret_fields_at_any_depth(self) -> None:
        """Secret fields are masked however deep; the others are left alone."""
        document = {"access_token": "a" * 20, "nested": [{"client_secret": "s" * 20, "client_id": "visible"}]}
        assert masked(document) == {
            "access_token": "aaaaaa…",
            "nested": [{"client_secret": "ssssss…", "client_id": "visible"}],
        }

    def test_a_callback_url_keeps_state_and_iss_and_masks_the_code(self) -> None:
        """The code of a callback URL is masked; state and iss are shown."""
        url = "http://127.0.0.1:8888/callback?code=abcdefghijkl&state=s1&iss=http%3A%2F%2Fa.example"
        assert masked_url(url) == "http://127.0.0.1:8888/callback?code=abcdef…&state=s1&iss=http%3A%2F%2Fa.example"

    def test_an_error_description_in_a_url_is_withheld(self) -> None:
        """CL-23: free text of an unchecked response is not shown."""
        url = "http://127.0.0.1:8888/callback?error=access_denied&error_description=call+me&state=s"
        assert masked_url(url) == "http://127.0.0.1:8888/callback?error=access_denied&error_description=…&state=s"

    def test_the_credentials_of_an_authorization_header(self) -> None:
        """The scheme is shown, the credentials masked."""
        assert masked_header("authorization", "Bearer eyJhbGciOi.x.y") == "Bearer eyJhbG…"


class TestTutorial:
    """What crossed the wire, as the tutorial prints it."""

    def test_a_token_request_is_printed_with_its_secrets_masked(self) -> None:
        """The form's code and verifier are masked; the other parameters are shown as sent."""
        out = io.StringIO()
        request = httpx2.Request(
            "POST",
            "https://auth.example.com/token",
            data={"grant_type": "authorization_code", "code": "c0de-c0de-c0de", "code_verifier": "v" * 43},
        )
        Tutorial(out).sent(request, bodies=True)
        assert out.getvalue().splitlines() == [
            "   → POST https://auth.example.com/token",
            "       Content-Type: application/x-www-form-urlencoded",
            "       grant_type=authorization_code",
            "       code=c0de-c…",
            "       code_verifier=vvvvvv…",
        ]

    def test_a_token_response_is_printed_with_its_tokens_masked(self) -> None:
        """Both tokens are masked; the other fields are shown as received."""
        out = io.StringIO()
        response = httpx2.Response(
            200,
            json={"access_token": "a" * 30, "token_type": "Bearer", "refresh_token": "r" * 30},
            headers={"Cache-Control": "no-store"},
        )
        Tutorial(out).received(response, bodies=True)
        assert out.getvalue().splitlines() == [
            "   ← 200 OK",
            "       Cache-Control: no-store",
            "       {",
            '         "access_token": "aaaaaa…",',
            '         "token_type": "Bearer",',
            '         "refresh_token": "rrrrrr…"',
            "       }",
        ]


MCP_CALL = httpx2.Request(
    "POST",
    "http://localhost:8000/mcp",
    json={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "whoami"}},
    headers={"Authorization": "Bearer eyJhbGciOi.x.y", "Mcp-Method": "tools/call", "Mcp-Name": "whoami"},
)


class TestVerbosity:
    """The default keeps MCP requests to one line; --verbose shows every header and body."""

    def test_an_mcp_request_is_one_line_by_default(self) -> None:
        """CL-31: the line names the MCP method and tool, from their transport headers."""
        out = io.StringIO()
        Tutorial(out).sent(MCP_CALL, bodies=False)
        assert out.getvalue() == "   → POST http://localhost:8000/mcp (Mcp-Method: tools/call, Mcp-Name: whoami)\n"

    def test_verbose_shows_every_header_masked_and_the_json_rpc_body(self) -> None:
        """CL-28: the bearer token stays masked among all the headers."""
        out = io.StringIO()
        Tutorial(out, verbose=True).sent(MCP_CALL, bodies=False)
        lines = out.getvalue().splitlines()
        assert "       authorization: Bearer eyJhbG…" in lines
        assert "       mcp-name: whoami" in lines
        assert '         "method": "tools/call",' in lines

    def test_verbose_masks_cookies_and_times_the_exchange(self) -> None:
        """A session cookie signs a user in: its value is masked like a token."""
        out = io.StringIO()
        response = httpx2.Response(302, headers={"Set-Cookie": "session=s3cr3t-s3cr3t; HttpOnly"})
        Tutorial(out, verbose=True).received(response, bodies=False, elapsed=0.012)
        assert out.getvalue().splitlines() == ["   ← 302 Found in 12 ms", "       set-cookie: sessio…"]


class TestJsonTutorial:
    """--json: one object per step, with its exchanges and rules, secrets masked."""

    def test_a_step_is_printed_when_the_run_finishes(self) -> None:
        """The revocation form's token is masked; the rule and the result are kept in order."""
        out = io.StringIO()
        tutorial = JsonTutorial(out)
        tutorial.step(8, "revoke", "Revoke the tokens.")
        request = httpx2.Request("POST", "https://a.example/revoke", data={"token": "rt-secret-42"})
        tutorial.sent(request, bodies=True)
        tutorial.received(httpx2.Response(200, request=request), bodies=True, elapsed=0.004)
        tutorial.rule("RFC 7009 §2.2", "200: revoked")
        assert out.getvalue() == ""
        tutorial.finish()
        step = json.loads(out.getvalue())
        assert step["exchanges"] == [
            {
                "request": {
                    "method": "POST",
                    "url": "https://a.example/revoke",
                    "headers": {"host": "a.example", "content-length": "18",
                                "content-type": "application/x-www-form-urlencoded"},
                    "body": {"token": "rt-sec…"},
                },
                "response": {"status": 200, "headers": {}, "body": None, "elapsed_ms": 4},
            }
        ]  # fmt: skip
        assert (step["step"], step["number"], step["rules"]) == (
            "revoke",
            8,
            [{"rule": "RFC 7009 §2.2", "text": "200: revoked"}],
        )
