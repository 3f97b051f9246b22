"""The admin pages of issue 4, in real Chromium: the journeys, and one journey as a sequence diagram."""

import base64

import httpx2
import pytest
from playwright.sync_api import Page

from mcp_authz.authorization_server.settings import DEMO_ADMIN
from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import DEMO_FLOW_STEPS, Issuer, journey_of


def sign_in_as(page: Page, username: str, password: str) -> None:
    """Send HTTP Basic credentials (RFC 7617) with every request of this page."""
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    page.set_extra_http_headers({"Authorization": f"Basic {encoded}"})


class TestAdminPages:
    def test_the_list_shows_a_journey_made_by_a_demo_flow(self, page: Page, demo_as: AuthorizationServer, demo: Issuer):
        """Issue 4: /admin/journeys lists the journeys, with client, MCP server and outcome."""
        client = demo.register()
        demo.tokens(client)
        journey = journey_of(demo_as.db, client.client_id)
        sign_in_as(page, *DEMO_ADMIN)

        response = page.goto(f"{demo_as.url}/admin/journeys")

        assert response is not None and response.status == 200
        row = page.locator("tr", has=page.locator(f"a[href='/admin/journeys/{journey['id']}']"))
        assert row.locator("td").nth(2).inner_text() == f"Test client {client.client_id}"
        assert row.locator("td").nth(3).inner_text() == "Demo MCP server demo"
        assert row.locator("td.outcome").inner_text() == "tokens issued"

    def test_a_journey_is_drawn_with_one_arrow_per_step_in_order(
        self, page: Page, demo_as: AuthorizationServer, demo: Issuer
    ):
        """Issue 4: the journey page draws each recorded step as an arrow between the parties, in order."""
        client = demo.register()
        demo.tokens(client)
        journey = journey_of(demo_as.db, client.client_id)
        sign_in_as(page, *DEMO_ADMIN)

        page.goto(f"{demo_as.url}/admin/journeys")
        page.click(f"a[href='/admin/journeys/{journey['id']}']")

        arrows = page.locator("svg.sequence g.arrow")
        assert [arrows.nth(i).get_attribute("data-step") for i in range(arrows.count())] == DEMO_FLOW_STEPS
        labels = [text.split(" (+")[0] for text in arrows.locator("text").all_text_contents()]
        assert labels == [
            "1. registers (RFC 7591)",
            "2. authorization request",
            "3. signs in",
            "4. allows",
            "5. authorization code",
            "6. code + verifier for tokens",
        ]
        lifelines = page.locator("svg.sequence text.party").all_text_contents()
        assert lifelines == ["Client", "User", "Authorization server", "MCP server", "Downstream provider"]
        heights = [float(arrows.nth(i).locator("line").get_attribute("y1") or 0) for i in range(arrows.count())]
        assert heights == sorted(set(heights))  # each arrow below the one before
        code = arrows.nth(4).locator("line")
        assert (code.get_attribute("x1"), code.get_attribute("x2")) == ("480", "100")  # AS to client

    def test_wrong_credentials_get_401_with_a_basic_challenge(self, http: httpx2.Client, demo_as: AuthorizationServer):
        """Issue 4: the admin pages need the admin's credentials (RFC 7617).

        Sent with the request, as a script does: a browser bringing none is sent to the console's
        sign-in page instead (issue 17, test_admin_console.py).
        """
        response = http.get(
            f"{demo_as.url}/admin/journeys", auth=("admin", "not the password"), headers={"Accept": "text/html"}
        )

        challenge = response.headers["www-authenticate"]
        assert (response.status_code, challenge) == (401, 'Basic realm="admin", charset="UTF-8"')
        assert "Authorization journeys" not in response.text

    def test_the_pages_do_not_exist_without_admin_settings(self, page: Page, fresh_as: AuthorizationServer):
        """Issue 4: admin pages are off by default outside the demo: 404, whatever the credentials."""
        sign_in_as(page, *DEMO_ADMIN)

        response = page.goto(f"{fresh_as.url}/admin/journeys")

        assert response is not None and response.status == 404

    def test_the_pages_are_never_framed_and_never_cors(self, http: httpx2.Client, demo_as: AuthorizationServer):
        """Issue 4, OAuth 2.1 §7.10: the admin pages send the pages' security headers, and no CORS header."""
        response = http.get(
            f"{demo_as.url}/admin/journeys", auth=DEMO_ADMIN, headers={"Origin": "https://evil.example"}
        )

        assert response.status_code == 200
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "access-control-allow-origin" not in response.headers

    def test_an_unknown_journey_is_not_found(self, http: httpx2.Client, demo_as: AuthorizationServer):
        """Issue 4: the journey page names an existing journey."""
        response = http.get(f"{demo_as.url}/admin/journeys/jrn_missing", auth=DEMO_ADMIN)

        assert (response.status_code, response.json()["error_description"]) == (404, "no such journey")


ADMIN = ("ops", "a long admin passphrase")


@pytest.mark.as_options(
    "--admin-username", ADMIN[0], "--admin-password", ADMIN[1], "--login-lockout-failures", "3",
    "--trusted-proxies", "127.0.0.1",
)  # fmt: skip
class TestAdminLockout:
    """Issue 11 item 10: wrong admin credentials are counted per client address, and lock it out."""

    @staticmethod
    def get(http: httpx2.Client, server: AuthorizationServer, address: str, auth: tuple[str, str] | None) -> int:
        headers = {"X-Forwarded-For": address}  # the trusted proxy (127.0.0.1) forwards it (decision 0019)
        return http.get(f"{server.url}/admin/journeys", auth=auth, headers=headers).status_code

    def test_an_address_that_failed_repeatedly_is_refused_even_the_right_password(
        self, http: httpx2.Client, fresh_as: AuthorizationServer
    ):
        """RFC 6585 §4: after three failures that address gets 429 with Retry-After; another address gets in."""
        wrong = [self.get(http, fresh_as, "203.0.113.7", (ADMIN[0], "guess number one!!")) for _ in range(3)]
        locked = http.get(f"{fresh_as.url}/admin/journeys", auth=ADMIN, headers={"X-Forwarded-For": "203.0.113.7"})

        assert wrong == [401, 401, 401]
        assert locked.status_code == 429
        assert 890 < int(locked.headers["retry-after"]) <= 900
        assert self.get(http, fresh_as, "198.51.100.9", ADMIN) == 200

    def test_requests_without_credentials_are_not_failures(self, http: httpx2.Client, fresh_as: AuthorizationServer):
        """RFC 7617 §2: a browser's first request, without credentials, only asks for the challenge."""
        asked = [self.get(http, fresh_as, "203.0.113.8", None) for _ in range(5)]

        assert asked == [401] * 5
        assert self.get(http, fresh_as, "203.0.113.8", ADMIN) == 200
