"""The tutorial output: each step as it happens, what crossed the wire, and the rule followed.

Every HTTP exchange is printed by event hooks on the ``httpx2`` clients (:meth:`Tutorial.hooks`),
so nothing is sent that is not shown. Secrets are masked wherever they appear, in JSON bodies,
forms, query strings and headers: tokens, codes, client secrets, client assertions and the PKCE
verifier show their first characters and ``…`` only (MCP Security Considerations, Token Theft; OAuth 2.1 §4.3:
tokens stay out of logs).
"""

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

import httpx2

from mcp_authz.client.errors import one_line

#: Parameters and fields whose values are secrets, wherever they occur.
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "code_verifier",
        "client_secret",
        "client_assertion",  # RFC 7523 §2.2: a private_key_jwt assertion, a credential while it lives
        "assertion",  # RFC 7523 §2.1: an ID-JAG or a workload's JWT (SEP-990, SEP-1933)
        "subject_token",  # RFC 8693 §2.1: the user's token at the IdP
        "registration_access_token",
        "token",  # RFC 7009 §2.1: the token to revoke
    }
)
#: Free text a forged authorization response could use to mislead the user: never shown in a
#: URL, only in the error line, once state and iss have been checked (CL-23).
UNCHECKED_FIELDS = frozenset({"error_description", "error_uri"})
SHOWN_CHARS = 6
#: The headers worth reading in a tutorial, spelled as the specs spell them.
SHOWN_REQUEST_HEADERS = {
    "authorization": "Authorization",
    "dpop": "DPoP",
    "content-type": "Content-Type",
    "mcp-protocol-version": "MCP-Protocol-Version",
    "mcp-method": "Mcp-Method",
    "mcp-name": "Mcp-Name",
}
SHOWN_RESPONSE_HEADERS = {
    "www-authenticate": "WWW-Authenticate",
    "dpop-nonce": "DPoP-Nonce",
    "location": "Location",
    "cache-control": "Cache-Control",
}
#: The MCP transport headers (CL-31), shown on the one line of an MCP request.
MCP_HEADERS = {name: SHOWN_REQUEST_HEADERS[name] for name in ("mcp-method", "mcp-name")}
#: Headers whose whole value is a secret: a session cookie signs the user in; a DPoP proof (RFC 9449
#: §4.2) is a credential for one request, shown masked like a token.
SECRET_HEADERS = frozenset({"cookie", "set-cookie", "dpop"})
MAX_SHOWN_BODY = 8 * 1024
#: A full run is steps 1 to 7; step 8 (revoke) runs only with ``--step revoke``.
STEP_COUNT = 8
_C1_CONTROLS = re.compile(r"[\x7f-\x9f]")
INDENT = "   "


def mask(secret: str) -> str:
    """The first few characters of a secret and ``…``: enough to tell two apart, not to use one."""
    return _visible(secret) + "…"


def _visible(secret: str) -> str:
    return secret[: min(SHOWN_CHARS, len(secret) // 2)]


def masked(data: Any) -> Any:
    """A JSON value with the values of :data:`SECRET_FIELDS` masked, at any depth."""
    if isinstance(data, dict):
        return {
            key: mask(value) if key in SECRET_FIELDS and isinstance(value, str) else masked(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [masked(item) for item in data]
    return data


def masked_url(url: str) -> str:
    """``url`` with secret query parameters masked (a callback URL carries the code), and
    :data:`UNCHECKED_FIELDS` left out."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name in SECRET_FIELDS or name in UNCHECKED_FIELDS for name, _ in pairs):
        return url
    query = "&".join(f"{quote_plus(name)}={_query_value(name, value)}" for name, value in pairs)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _query_value(name: str, value: str) -> str:
    if name in UNCHECKED_FIELDS:
        return "…"
    if name in SECRET_FIELDS:
        return quote_plus(_visible(value)) + "…"
    return quote_plus(value)


def masked_header(name: str, value: str) -> str:
    """Credentials in ``Authorization`` and cookies masked; locations with their secret parameters masked."""
    if name in SECRET_HEADERS:
        return mask(value)
    if name == "authorization":
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} {mask(credentials)}"
    if name == "location":
        return masked_url(value)
    return value


class Tutorial:
    """Prints a run, step by step, to ``out`` (a terminal, or a pipe read by tests).

    The default output is for reading: the headers worth knowing (:data:`SHOWN_REQUEST_HEADERS`)
    and the OAuth bodies; MCP requests, whose answers only the SDK reads, take one line each.
    ``verbose`` shows every header and every request body (the MCP JSON-RPC messages too), and
    how long each exchange took.
    """

    def __init__(self, out: TextIO, *, verbose: bool = False) -> None:
        self._out = out
        self.verbose = verbose
        self._started: dict[int, float] = {}

    def heading(self, text: str) -> None:
        self._line(text)

    def outcome(self, text: str) -> None:
        """What the run did, at its end: shown in every text view (``--quiet`` too)."""
        self._line(text)

    def step(self, number: int, name: str, what: str) -> None:
        self._line("")
        self._line(f"== Step {number}/{STEP_COUNT} · {name} ==")
        self.say(what)

    def say(self, text: str) -> None:
        self._line(f"{INDENT}{text}")

    def rule(self, rule: str, text: str) -> None:
        """The spec rule a decision follows, e.g. ``rule("CL-03, RFC 9728 §3.3", "...")``."""
        self._line(f"{INDENT}rule [{rule}] {text}")

    def result(self, text: str) -> None:
        self._line(f"{INDENT}✓ {text}")

    def data(self, value: Any) -> None:
        """A JSON value, secrets masked, indented under the current step."""
        self._masked_json(masked(value), f"{INDENT}  ")

    def finish(self) -> None:
        """The run is over, done or failed: nothing is left to print here."""

    def hooks(self, *, bodies: bool) -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
        """``event_hooks`` for an ``httpx2`` client that print every request and response.

        With ``bodies`` false, response bodies are not shown, nor responses read: MCP answers may
        be event streams that only the SDK may consume, and authorization pages are HTML for people.
        """

        async def on_request(request: httpx2.Request) -> None:
            self._started[id(request)] = time.perf_counter()
            self.sent(request, bodies=bodies)

        async def on_response(response: httpx2.Response) -> None:
            if bodies:
                await response.aread()
            started = self._started.pop(id(response.request), None)
            elapsed = time.perf_counter() - started if started is not None else None
            self.received(response, bodies=bodies, elapsed=elapsed)

        return {"request": [on_request], "response": [on_response]}

    def sent(self, request: httpx2.Request, *, bodies: bool) -> None:
        url = masked_url(str(request.url))
        if not (bodies or self.verbose):
            mcp = [f"{name}: {one_line(value)}" for name, value in shown_headers(request.headers, MCP_HEADERS)]
            self._line(f"{INDENT}→ {request.method} {url}" + (f" ({', '.join(mcp)})" if mcp else ""))
            return
        self._line(f"{INDENT}→ {request.method} {url}")
        self._headers(request.headers, SHOWN_REQUEST_HEADERS)
        form = form_fields(request)
        if form is not None:
            for name, value in form:
                self._line(f"{INDENT}    {name}={one_line(value)}")
        else:
            self._json_body(request_content(request), request.headers)

    def received(self, response: httpx2.Response, *, bodies: bool, elapsed: float | None = None) -> None:
        content_type = response.headers.get("content-type", "")
        is_json = content_type.startswith("application/json")
        described = f" ({content_type.split(';')[0]})" if content_type and not (bodies and is_json) else ""
        timing = f" in {elapsed * 1000:.0f} ms" if self.verbose and elapsed is not None else ""
        self._line(f"{INDENT}← {response.status_code} {response.reason_phrase}{described}{timing}")
        self._headers(response.headers, SHOWN_RESPONSE_HEADERS)
        if bodies:
            self._json_body(response.content, response.headers)

    def _headers(self, headers: httpx2.Headers, shown: dict[str, str]) -> None:
        for name, value in shown_headers(headers, shown, verbose=self.verbose):
            self._line(f"{INDENT}    {name}: {one_line(value)}")

    def _json_body(self, content: bytes, headers: httpx2.Headers) -> None:
        document, unshown = json_body(content, headers)
        if unshown:
            self._line(f"{INDENT}    ({unshown})")
        elif document is not None:
            self._masked_json(document, f"{INDENT}    ")

    def _masked_json(self, value: Any, indent: str) -> None:
        # json.dumps escapes C0 controls; C1 ones would still reach the terminal, so they go too.
        for line in json.dumps(value, indent=2, ensure_ascii=False).splitlines():
            self._line(indent + _C1_CONTROLS.sub("?", line))

    def _line(self, text: str) -> None:
        print(text, file=self._out, flush=True)


def shown_headers(headers: httpx2.Headers, shown: dict[str, str], *, verbose: bool = False) -> list[tuple[str, str]]:
    """The headers to show, masked: those of ``shown``, or with ``verbose`` every one."""
    if verbose:
        return [(name, masked_header(name.lower(), value)) for name, value in headers.items()]
    return [(spelled, masked_header(name, headers[name])) for name, spelled in shown.items() if name in headers]


def json_body(content: bytes, headers: httpx2.Headers) -> tuple[Any, str | None]:
    """A JSON body, secrets masked, or why it is not shown; ``(None, None)`` for another kind of body."""
    if not content or not headers.get("content-type", "").startswith("application/json"):
        return None, None
    if len(content) > MAX_SHOWN_BODY:
        return None, f"{len(content)} bytes of JSON"
    try:
        return masked(json.loads(content)), None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, f"not valid JSON, {len(content)} bytes"


def request_content(request: httpx2.Request) -> bytes:
    """The body of a request, or nothing when it is streamed (and not ours to read)."""
    try:
        return request.content
    except httpx2.RequestNotRead:
        return b""


def form_fields(request: httpx2.Request) -> list[tuple[str, str]] | None:
    """The fields of a form body with secrets masked; ``None`` when the body is not a form."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    pairs = parse_qsl(request_content(request).decode(errors="replace"), keep_blank_values=True)
    return [(name, mask(value) if name in SECRET_FIELDS else value) for name, value in pairs]
