"""The client against an authorization server and an MCP server written by others: the mcp SDK's.

``python client.py --headless`` runs through discovery (the SDK's 401 and protected resource
metadata), the SDK's RFC 8414 metadata and RFC 7591 registration, its authorize and token
endpoints, a tool call the SDK's bearer middleware lets through, and a refresh with rotation
(tests/client/sdk_stack.py). The SDK spells its issuer with a trailing slash
(``http://localhost:PORT/``) in both documents: the client keeps it as the exact string (CL-06).
"""

from collections.abc import Callable
from pathlib import Path

from tests.client.running import Run, assert_tokens_masked, edit_store, read_store, run_cli, run_client
from tests.client.sdk_stack import PEER_USER, SdkStack

ALL_STEPS = ["1 discover", "2 metadata", "3 register", "4 authorize", "5 token", "6 call", "7 refresh"]


def full_run(stack: SdkStack, store: Path, *options: str) -> Run:
    run = run_client(stack.mcp_url, store, "--headless", *options)
    assert run.exit_code == 0, run.describe()
    return run


def mcp_posts(stack: SdkStack, run: Callable[[], Run]) -> list[dict[str, str]]:
    """The headers of each request to the MCP endpoint while ``run`` runs (not its metadata documents)."""
    seen_before = len(stack.mcp_requests)
    run()
    return [headers for target, headers in stack.mcp_requests[seen_before:] if target == "/mcp"]


def issuer(stack: SdkStack) -> str:
    """The issuer as the SDK spells it in its metadata."""
    return f"{stack.issuer}/"


class TestFullRunAgainstTheSdk:
    def test_discovery_registration_authorization_token_call_and_refresh(
        self, tmp_path: Path, sdk_stack: SdkStack
    ) -> None:
        """CL-12, CL-17, CL-19, CL-25, CL-29: the seven steps against the SDK's servers (discovery, CL-01 to
        CL-06, against the SDK's own 401 and documents): a public client, a PKCE verifier the SDK accepts, the
        resource in both token requests, the refresh token rotated, the tokens masked."""
        store = tmp_path / "store.json"
        sent_before = len(sdk_stack.token_front.requests)
        run = full_run(sdk_stack, store)
        assert run.steps == ALL_STEPS
        registration = read_store(store)["registrations"][issuer(sdk_stack)]
        client_id = registration["client_id"]
        assert sdk_stack.provider.clients[client_id].token_endpoint_auth_method == "none"
        assert f'"client_id": "{client_id}"' in run.stdout and f'"subject": "{PEER_USER}"' in run.stdout
        code, rotation = sdk_stack.token_front.requests[sent_before:]
        assert (code["grant_type"], code["resource"], code["client_id"]) == (
            "authorization_code",
            sdk_stack.mcp_url,
            client_id,
        )
        assert (rotation["grant_type"], rotation["resource"]) == ("refresh_token", sdk_stack.mcp_url)
        held = read_store(store)["tokens"][sdk_stack.mcp_url][issuer(sdk_stack)]
        assert held["refresh_token"] in sdk_stack.provider.refresh_tokens
        assert rotation["refresh_token"] not in sdk_stack.provider.refresh_tokens  # rotated away (CL-29)
        assert sdk_stack.provider.access_tokens[held["access_token"]].resource == sdk_stack.mcp_url
        assert_tokens_masked(run.output, store, sdk_stack.mcp_url, issuer(sdk_stack))

    def test_every_mcp_request_with_the_token_carries_it_in_the_header(
        self, tmp_path: Path, sdk_stack: SdkStack
    ) -> None:
        """CL-26: after the first request (without a token, for the 401), every request to the SDK's MCP server
        carries Authorization: Bearer with the stored token, and no URL ever carries a token."""
        store = tmp_path / "store.json"
        first, *rest = mcp_posts(sdk_stack, lambda: full_run(sdk_stack, store))
        assert "authorization" not in first
        assert len(rest) >= 6  # steps 6 and 7: discover, tools/list, tools/call each
        tokens = {headers["authorization"].removeprefix("Bearer ") for headers in rest}
        held = read_store(store)["tokens"][sdk_stack.mcp_url][issuer(sdk_stack)]["access_token"]
        assert len(tokens) == 2 and held in tokens  # step 6's token, then step 7's refreshed one
        assert all(headers["authorization"].startswith("Bearer ") for headers in rest)
        assert not any("token" in target for target, _ in sdk_stack.mcp_requests)

    def test_every_mcp_post_carries_the_transport_headers(self, tmp_path: Path, sdk_stack: SdkStack) -> None:
        """CL-31: each POST carries MCP-Protocol-Version and Mcp-Method; a tools/call also Mcp-Name."""
        posts = mcp_posts(sdk_stack, lambda: full_run(sdk_stack, tmp_path / "store.json"))
        assert all("mcp-protocol-version" in headers and "mcp-method" in headers for headers in posts)
        methods = [headers["mcp-method"] for headers in posts]
        assert methods[0] == "server/discover" and "tools/list" in methods
        calls = [headers for headers in posts if headers["mcp-method"] == "tools/call"]
        assert calls and all(headers["mcp-name"] == "whoami" for headers in calls)

    def test_a_second_run_reuses_the_registration_and_the_token(self, tmp_path: Path, sdk_stack: SdkStack) -> None:
        """CL-14, CL-27: nothing is registered or authorized again while the stored token is valid."""
        store = tmp_path / "store.json"
        full_run(sdk_stack, store)
        again = full_run(sdk_stack, store)
        assert f"POST {sdk_stack.issuer}/register" not in again.requests
        assert not any("/authorize" in request for request in again.requests)

    def test_an_expired_token_is_refreshed_with_the_resource(self, tmp_path: Path, sdk_stack: SdkStack) -> None:
        """CL-29, CL-19: an access token past its expiry is renewed with the stored refresh token."""
        store = tmp_path / "store.json"
        full_run(sdk_stack, store)

        def expire(document: dict) -> None:  # type: ignore[type-arg]
            document["tokens"][sdk_stack.mcp_url][issuer(sdk_stack)]["expires_at"] = 0

        edit_store(store, expire)
        sent_before = len(sdk_stack.token_front.requests)
        run = full_run(sdk_stack, store)
        assert not any("/authorize" in request for request in run.requests)
        grants = [request["grant_type"] for request in sdk_stack.token_front.requests[sent_before:]]
        assert grants == ["refresh_token", "refresh_token"]  # step 5, then step 7

    def test_a_token_the_server_forgot_is_renewed_once(self, tmp_path: Path, sdk_stack: SdkStack) -> None:
        """CL-29: the SDK's 401 invalid_token on a stored token: the client refreshes, then calls again."""
        store = tmp_path / "store.json"
        full_run(sdk_stack, store)
        held = read_store(store)["tokens"][sdk_stack.mcp_url][issuer(sdk_stack)]
        del sdk_stack.provider.access_tokens[held["access_token"]]
        run = full_run(sdk_stack, store)
        assert "a stored access token the server refuses is renewed, once" in run.stdout

    def test_a_refused_revocation_is_one_line_and_keeps_the_tokens(self, tmp_path: Path, sdk_stack: SdkStack) -> None:
        """RFC 7009 §2.1: a public client revokes with its client_id alone; the SDK's /revoke (mcp 2.3.0)
        wants a client_secret field anyway (python-sdk issue 3508). The client sends no made-up secret:
        it reports the refusal in one line, exit code 7, and keeps the tokens so that logout can be retried."""
        store = tmp_path / "store.json"
        full_run(sdk_stack, store)
        held = read_store(store)["tokens"][sdk_stack.mcp_url][issuer(sdk_stack)]
        logout = run_cli("logout", "--server-url", sdk_stack.mcp_url, "--store", str(store))
        assert logout.exit_code == 7, logout.describe()
        assert logout.stderr == (
            "error: the revocation endpoint refused the request: invalid_request: client_secret: Field required\n"
        )
        assert "client_secret=" not in logout.stdout
        assert read_store(store)["tokens"][sdk_stack.mcp_url][issuer(sdk_stack)] == held
