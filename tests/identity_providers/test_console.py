"""Issue 17 ("identity providers once federated sign-in exists") and issue 16: the console's Identity providers page.

One in-process authorization server and one signing provider (``signing_provider.py``) for the
module: the page adds providers checked by discovery against it (OIDC Discovery §4).
"""

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx2
import pytest
from playwright.sync_api import Page

from scripts.stack import AuthorizationServer, start_authorization_server
from tests.authorization_server.flows import Issuer, Pkce, execute, rows
from tests.authorization_server.test_admin_console import ADMIN, NARROW, fits, sign_in
from tests.identity_providers.signing_provider import CLIENT_ID, SigningProvider

PAGE = "/admin/identity-providers"
RESOURCE = "http://localhost:8112/mcp"


@dataclass
class Console:
    ours: AuthorizationServer
    signer: SigningProvider

    @property
    def url(self) -> str:
        return self.ours.url + PAGE


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    signer = SigningProvider()
    ours = start_authorization_server(
        tmp_path_factory.mktemp("idp-console"),
        "--allow-loopback-client-metadata",
        "--admin-username",
        ADMIN[0],
        "--admin-password",
        ADMIN[1],
        demo=False,
        in_process=True,
    )
    ours.cli("mcp-servers", "add", "--id", "notes", "--resource", RESOURCE, "--scopes", "notes:read")
    ours.cli("users", "add", "carol", input="correct horse battery\n")
    try:
        yield Console(ours, signer)
    finally:
        ours.program.stop()
        signer.close()


def add_form(page: Page, signer: SigningProvider, name: str, **fields: str) -> None:
    """Fill in the "add an identity provider" form for the signing provider."""
    values = {"name": name, "issuer": signer.issuer, "client_id": CLIENT_ID, "client_secret_env": "SIGNER_SECRET"}
    for field, value in (values | fields).items():
        page.fill(f"form.add-provider input[name={field}]", value)


def test_add_list_and_remove_a_provider_at_390_px(page: Page, console: Console):
    """Issue 17 with issue 16: the operator adds a provider in the browser as ``identity-providers add`` does
    (discovery checked first, OIDC Discovery §4; the redirect URI to register shown, RFC 9700 §4.4.2; for
    ``private_key_jwt`` the public key, RFC 7523 §2.2), sees it listed with its rules and users, its display
    name on the sign-in page, and removes it, confirmed; every page fits 390 px."""
    ours, name, keyed = console.ours, f"sso-{secrets.token_hex(3)}", f"kj-{secrets.token_hex(3)}"
    sign_in(page, ours, *ADMIN)
    page.set_viewport_size(NARROW)
    page.click("nav.console-nav >> text=Identity providers")
    assert page.locator("h1").inner_text() == "Identity providers"
    assert fits(page)

    add_form(page, console.signer, name, display_name="Acme SSO", allowed_domains="example.com")
    page.fill("form.add-provider input[name=claim_rules]", "groups=mcp-users")
    page.click("form.add-provider button[value=add]")
    redirect_uri = f"{ours.url}/federated/{name}/callback"
    assert page.locator("code.redirect-uri").inner_text() == redirect_uri
    row = page.locator(f"tr[data-provider='{name}']")
    assert "Continue with Acme SSO" in row.inner_text()
    assert "example.com" in row.locator("td.rules").inner_text()
    assert "groups=mcp-users" in row.locator("td.rules").inner_text()
    assert row.locator("td.users").inner_text().startswith("0")
    assert fits(page)

    add_form(page, console.signer, keyed, client_secret_env="")
    page.select_option("form.add-provider select[name=auth_method]", "private_key_jwt")
    page.click("form.add-provider button[value=add]")
    public = json.loads(page.locator("code.public-jwk").inner_text())
    [stored] = rows(ours.db, "SELECT key_id FROM identity_providers WHERE name = ?", keyed)
    assert (public["kty"], public["kid"], "d" in public) == ("EC", stored["key_id"], False)
    assert fits(page)

    with httpx2.Client(follow_redirects=False, timeout=10) as http:
        registration = f"{ours.url}/api/v1/authz/clients/register/mcp/notes/latest"
        notes = Issuer(http, ours.issuer_for("notes"), registration, resource=RESOURCE)
        started = notes.authorize(notes.register(), Pkce.new(), scope="notes:read")
        login = http.get(urljoin(ours.url, started.headers["location"]))
    assert "Continue with Acme SSO" in login.text
    assert f"Continue with {keyed.upper()}" in login.text

    for gone in (name, keyed):
        page.check(f"tr[data-provider='{gone}'] form.remove input[name=confirm]")
        page.click(f"tr[data-provider='{gone}'] form.remove button[value=remove]")
        assert page.locator("p.done").inner_text() == f"Removed identity provider {gone}."
    assert page.locator(f"tr[data-provider='{name}']").count() == 0
    assert rows(ours.db, "SELECT 1 FROM identity_providers WHERE name IN (?, ?)", name, keyed) == []
    assert fits(page)


def test_refusals_write_nothing(page: Page, console: Console):
    """Issue 17 and OAuth 2.1 §7.10: a form without the session's CSRF token, a provider whose discovery fails
    (here its document names another issuer, OIDC Discovery §4.3), a bad claim rule, a name taken, and a removal
    unconfirmed or while a user signs in through it (as the command line refuses it) are readable refusals that
    change nothing; the users pages show that user's source, oidc:NAME. The command line's provider, added with
    --allow-private-network and --display-name (decision 0047), is listed with both."""
    ours, name = console.ours, f"kept-{secrets.token_hex(3)}"
    ours.cli("identity-providers", "add", "--name", name, "--issuer", console.signer.issuer, "--client-id", CLIENT_ID,
             "--client-secret-env", "SIGNER_SECRET", "--allow-loopback-client-metadata", "--allow-private-network",
             "--display-name", "Kept SSO")  # fmt: skip
    listed = ours.cli("identity-providers", "list").stdout
    assert f'{name} "Kept SSO"' in listed and "(private network allowed)" in listed
    [provider] = rows(ours.db, "SELECT id, allow_private_network FROM identity_providers WHERE name = ?", name)
    assert provider["allow_private_network"] == 1
    user_id, username = f"usr_{secrets.token_hex(4)}", f"{name}/bob@example.com"
    execute(ours.db, "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, '!', ?)",
            user_id, username, "2026-01-01T00:00:00+00:00")  # fmt: skip
    execute(ours.db, "INSERT INTO federated_identities (provider_id, sub, user_id, created_at, signed_in_at)"
            " VALUES (?, 'bob-sub', ?, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
            provider["id"], user_id)  # fmt: skip
    sign_in(page, ours, *ADMIN)
    page.goto(console.url)
    token = page.locator("form.add-provider input[name=csrf_token]").input_value()
    fields = {"action": "add", "issuer": console.signer.issuer, "client_id": CLIENT_ID,
              "client_secret_env": "S", "scopes": "openid"}  # fmt: skip

    forged = page.request.post(console.url, form={**fields, "name": "forged"})
    other_issuer = page.request.post(
        console.url, form={**fields, "csrf_token": token, "name": "wrong", "issuer": console.signer.issuer + "/"}
    )
    bad_rule = page.request.post(console.url, form={**fields, "csrf_token": token, "name": "rule", "claim_rules": "x"})
    taken = page.request.post(console.url, form={**fields, "csrf_token": token, "name": name})
    unconfirmed = page.request.post(console.url, form={"csrf_token": token, "action": "remove", "name": name})
    in_use = page.request.post(
        console.url, form={"csrf_token": token, "action": "remove", "name": name, "confirm": "yes"}
    )
    unknown = page.request.post(
        console.url, form={"csrf_token": token, "action": "remove", "name": "nobody", "confirm": "yes"}
    )

    assert forged.status == 403
    assert other_issuer.status == 400 and "names another issuer" in other_issuer.text()
    assert bad_rule.status == 400 and "is not a claim rule" in bad_rule.text()
    assert taken.status == 400 and "already exists" in taken.text()
    assert unconfirmed.status == 400 and "tick the box" in unconfirmed.text()
    assert in_use.status == 400 and "1 user(s) sign in with" in in_use.text()
    assert unknown.status == 404
    names = {row["name"] for row in rows(ours.db, "SELECT name FROM identity_providers")}
    assert name in names and not names & {"forged", "wrong", "rule"}
    page.goto(console.url)
    assert page.locator(f"tr[data-provider='{name}'] td.users").inner_text().startswith("1")
    assert page.locator(f"tr[data-provider='{name}'] .private-network").count() == 1
    page.goto(f"{ours.url}/admin/users")
    assert page.locator(f"tr[data-username='{username}'] td.source").inner_text() == f"oidc:{name}"
    assert page.locator("tr[data-username='carol'] td.source").inner_text() == "local"
    page.click(f"tr[data-username='{username}'] a")
    assert page.locator("dd.source").inner_text() == f"oidc:{name}"
