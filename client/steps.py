"""The tutorial output: each step as it happens, what crossed the wire, and the rule followed.

Every HTTP exchange is printed by event hooks on the ``httpx2`` clients (:meth:`Tutorial.hooks`),
so nothing is sent that is not shown. Secrets are masked wherever they appear, in JSON bodies,
forms, query strings and headers: tokens, codes, client secrets and the PKCE verifier show their
first characters and ``…`` only (MCP Security Considerations, Token Theft; OAuth 2.1 §4.3:
tokens stay out of logs).
"""

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

import httpx2

from client.errors import one_line

#: Parameters and fields whose values are secrets, wherever they occur.
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "code_verifier",
        "client_secret",
        "registration_access_token",
    }
)
#: Free text a forged authorization response could use to mislead the user: never shown in a
#: URL, only in the error line, once state and iss have been checked (CL-23).
UNCHECKED_FIELDS = frozenset({"error_description", "error_uri"})
SHOWN_CHARS = 6
#: The headers worth reading in a tutorial, spelled as the specs spell them.
SHOWN_REQUEST_HEADERS = {
    "authorization": "Authorization",
    "content-type": "Content-Type",
    "mcp-protocol-version": "MCP-Protocol-Version",
    "mcp-method": "Mcp-Method",
    "mcp-name": "Mcp-Name",
}
SHOWN_RESPONSE_HEADERS = {
    "www-authenticate": "WWW-Authenticate",
    "location": "Location",
    "cache-control": "Cache-Control",
}
MAX_SHOWN_BODY = 8 * 1024
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
    """Credentials in ``Authorization`` masked; locations with their secret parameters masked."""
    if name == "authorization":
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} {mask(credentials)}"
    if name == "location":
        return masked_url(value)
    return value


class Tutorial:
    """Prints a run, step by step, to ``out`` (a terminal, or a pipe read by tests)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def heading(self, text: str) -> None:
        self._line(text)

    def step(self, number: int, name: str, what: str) -> None:
        self._line("")
        self._line(f"== Step {number}/7 · {name} ==")
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
        self._json(value, f"{INDENT}  ")

    def hooks(self, *, bodies: bool) -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
        """``event_hooks`` for an ``httpx2`` client that print every request and response.

        With ``bodies`` false, bodies are not shown, nor responses read: MCP answers may be event
        streams that only the SDK may consume, and authorization pages are HTML for people.
        """

        async def on_request(request: httpx2.Request) -> None:
            self.sent(request, bodies=bodies)

        async def on_response(response: httpx2.Response) -> None:
            if bodies:
                await response.aread()
            self.received(response, bodies=bodies)

        return {"request": [on_request], "response": [on_response]}

    def sent(self, request: httpx2.Request, *, bodies: bool) -> None:
        self._line(f"{INDENT}→ {request.method} {masked_url(str(request.url))}")
        for name, shown in SHOWN_REQUEST_HEADERS.items():
            if name in request.headers:
                self._line(f"{INDENT}    {shown}: {one_line(masked_header(name, request.headers[name]))}")
        content_type = request.headers.get("content-type", "")
        if not bodies:
            return
        if content_type.startswith("application/x-www-form-urlencoded"):
            for name, value in parse_qsl(request.content.decode(), keep_blank_values=True):
                self._line(f"{INDENT}    {name}={mask(value) if name in SECRET_FIELDS else one_line(value)}")
        elif content_type.startswith("application/json"):
            self._json_body(request.content)

    def received(self, response: httpx2.Response, *, bodies: bool) -> None:
        content_type = response.headers.get("content-type", "")
        is_json = content_type.startswith("application/json")
        described = f" ({content_type.split(';')[0]})" if content_type and not (bodies and is_json) else ""
        self._line(f"{INDENT}← {response.status_code} {response.reason_phrase}{described}")
        for name, shown in SHOWN_RESPONSE_HEADERS.items():
            if name in response.headers:
                self._line(f"{INDENT}    {shown}: {one_line(masked_header(name, response.headers[name]))}")
        if bodies and is_json:
            self._json_body(response.content)

    def _json_body(self, content: bytes) -> None:
        if len(content) > MAX_SHOWN_BODY:
            self._line(f"{INDENT}    ({len(content)} bytes of JSON)")
            return
        try:
            document = json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._line(f"{INDENT}    (not valid JSON, {len(content)} bytes)")
            return
        self._json(document, f"{INDENT}    ")

    def _json(self, value: Any, indent: str) -> None:
        # json.dumps escapes C0 controls; C1 ones would still reach the terminal, so they go too.
        for line in json.dumps(masked(value), indent=2, ensure_ascii=False).splitlines():
            self._line(indent + _C1_CONTROLS.sub("?", line))

    def _line(self, text: str) -> None:
        print(text, file=self._out, flush=True)
