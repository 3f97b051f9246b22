"""Outbound fetches that a request makes this server do (issue 11, items 5 and 7).

A ``client_id`` URL (a client ID metadata document, CIMD) or a ``jwks_uri`` is fetched from
``/authorize``, ``/token`` and ``/revoke`` before any authentication. These tests drive real
servers: the documents come from the loopback document server (``tests/documents.py``), which
counts the fetches, and can hold an answer open to count how many run at once.
"""

import asyncio
import threading

import httpx2
import pytest

from mcp_authz.authorization_server.settings import Settings
from scripts.stack import AuthorizationServer
from tests.authorization_server.flows import Issuer, redirect_params
from tests.documents import Answer, DocumentServer, document_client

LOOPBACK = "--allow-loopback-client-metadata"


def authorize_token_revoke(issuer: Issuer, client_id: str) -> list[httpx2.Response]:
    """One request naming ``client_id`` at each endpoint that may fetch its document."""
    client = document_client(client_id)
    return [
        issuer.authorize(client),
        issuer.post_token({"grant_type": "refresh_token", "refresh_token": "x" * 43, "client_id": client_id}),
        issuer.post_form(issuer.revocation_endpoint, {"token": "x" * 43, "client_id": client_id}),
    ]


def test_twenty_requests_for_a_missing_document_make_one_fetch(demo: Issuer, documents: DocumentServer):
    """Issue 11 item 5: a 404 is remembered (--client-metadata-failure-cache, 30 s), at every endpoint that fetches."""
    path = "/missing/client.json"
    url = documents.url(path)  # nothing served there: 404

    answers = [response for _ in range(7) for response in authorize_token_revoke(demo, url)][:20]

    assert documents.hits[path] == 1
    for response in answers:
        assert response.status_code in (400, 401), response.text
        assert "status 404" in response.text


HOSTILE_URLS = ["https://%E2%80%AE.com/x", "https://" + "a" * 64 + ".com/x", "https://a..com/x", "https://\u202e.com/x"]


@pytest.mark.parametrize("url", HOSTILE_URLS, ids=["percent-encoded-bidi", "64-character-label", "empty-label", "bidi"])
def test_a_client_id_whose_host_is_not_a_domain_name_is_invalid_client_everywhere(
    demo: Issuer, demo_as: AuthorizationServer, url: str
):
    """Issue 11 item 7: a host the IDNA codec refuses was a 500 with two tracebacks at /authorize, /token
    and /revoke; it is the error page and 401 invalid_client, and the log holds no traceback."""
    logged_before = len(demo_as.program.log())

    authorize, token, revoke = authorize_token_revoke(demo, url)

    assert authorize.status_code == 400, authorize.text
    assert authorize.headers["content-type"].startswith("text/html")
    assert "its host is not a valid domain name" in authorize.text
    for response in (token, revoke):
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
        assert "its host is not a valid domain name" in response.json()["error_description"]
    assert "Traceback" not in demo_as.program.log()[logged_before:]


@pytest.mark.as_options(LOOPBACK, "--rate-limit-fetch", "2/min")
def test_fetches_are_limited_per_address_and_cached_answers_are_free(
    fresh_as: AuthorizationServer, fresh_root: Issuer, documents: DocumentServer
):
    """Issue 11 item 5, RFC 6585 §4: a third document fetched for one address within the minute is 429 with
    Retry-After, at /authorize and /token; a document already cached still answers, costing no fetch."""
    first, second, third = (documents.publish(f"/limited/{n}/client.json") for n in range(3))

    for url in (first, second):
        assert fresh_root.authorize(document_client(url)).status_code == 303
    again = fresh_root.authorize(document_client(first))
    refused_page = fresh_root.authorize(document_client(third))
    refused_token = authorize_token_revoke(fresh_root, third)[1]

    assert again.status_code == 303 and redirect_params(again)["error"] == "invalid_target"  # no MCP server here
    assert refused_page.status_code == 429 and int(refused_page.headers["retry-after"]) > 0
    assert "client documents fetched for requests from this address" in refused_page.text
    assert refused_token.status_code == 429 and refused_token.json()["error"] == "too_many_requests"
    assert "/limited/2/client.json" not in documents.hits


@pytest.mark.anyio
@pytest.mark.as_options(LOOPBACK, "--client-metadata-fetches-per-host", "2")
async def test_concurrent_fetches_are_capped_and_the_rest_are_told_to_retry(
    fresh_as: AuthorizationServer, fresh_root: Issuer, documents: DocumentServer
):
    """Issue 11 item 5: ten concurrent requests for ten held documents of one host hold two fetches, not
    ten; the other eight are answered temporarily_unavailable (503, Retry-After) within about a second."""
    gate = threading.Event()
    paths = [f"/held/{n}/client.json" for n in range(10)]
    urls = [documents.serve(path, Answer.json({"client_id": documents.url(path)}).held(gate)) for path in paths]
    documents.reset_peak()

    async with httpx2.AsyncClient(timeout=30) as http:
        requests = [
            asyncio.create_task(
                http.get(fresh_root.authorization_endpoint, params={"client_id": url, "response_type": "code"})
            )
            for url in urls
        ]
        early: list[httpx2.Response] = []
        try:
            async with asyncio.timeout(20):
                for answered in asyncio.as_completed(requests):
                    early.append(await answered)
                    if len(early) == 8:  # the two held fetches are still open
                        break
            peak = documents.peak
        finally:
            gate.set()
        await asyncio.gather(*requests)

    assert peak == 2
    assert len(early) == 8
    for response in early:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert "fetching too many client documents at once" in response.text


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("client_metadata_fetches", 0, "client_metadata_fetches must be positive"),
        ("client_metadata_fetches_per_host", 0, "client_metadata_fetches_per_host must be positive"),
        ("client_metadata_failure_cache", -1, "client_metadata_failure_cache must be 0 or more"),
        ("rate_limit_fetch", "lots", "is not a rate"),
    ],
)
def test_a_bad_fetch_setting_stops_the_server_with_one_line(setting: str, value: object, says: str):
    """Issue 11 item 5: the new settings are checked like every other (settings.py)."""
    with pytest.raises(ValueError, match=says):
        Settings(**{setting: value}).check()
