"""Hypothesis strategies for hostile requests, shared by the fuzz tests of both servers (issue 6).

Each strategy draws something a careless or malicious client might send: JSON of the wrong
shape, bodies near the size limit, deep nesting, lone surrogates and control characters,
duplicated keys and parameters, invalid percent-encoding, bytes that are not UTF-8, wrong
content types, and Authorization headers made of garbage. The examples are derandomised and no
example database is kept, so a run in CI draws the same requests every time.
"""

import base64
import json
from urllib.parse import quote

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from scripts.stack import AuthorizationServer, McpServer

#: Fixed and deterministic; the HTTP client fixture is reused by every example on purpose.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: The authorization server's default body limit (``AS_MAX_BODY_BYTES``).
BODY_LIMIT = 16 * 1024

#: Every code point, lone surrogates and control characters included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)

#: Strings that look like what the fields expect, and are not quite.
near_miss = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\r\nSet-Cookie: x=y",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://[::1",
        "http://127.0.0.1:99999/callback",
        "http://user:pass@127.0.0.1/callback",
        "http://127.0.0.1:8765/callback#fragment",
        "https://example.com/" + "a" * 3000,
        "../../etc/passwd",
        "%00",
        "%ff%fe",
        "S256",
        "plain",
        "code",
        "authorization_code",
        "refresh_token",
        "none",
        "client_secret_basic",
        "mcp:read mcp:read",
        "<script>alert(1)</script>",
        "\u202e\ufeff\U0001f600",
        "1e999999",
        "-1",
    ]
)

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | any_text | near_miss
)

json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4), max_leaves=12
)


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


#: JSON bodies no parser should trust, as bytes: nesting, size, duplicates, odd numbers and encodings.
hostile_json_bytes = st.one_of(
    st.integers(1, BODY_LIMIT).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, BODY_LIMIT // 2).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.integers(BODY_LIMIT - 64, BODY_LIMIT + 64).map(lambda size: b'{"client_name": "' + b"A" * size + b'"}'),
    st.just(b'{"redirect_uris": ["http://127.0.0.1/cb"], "redirect_uris": "http://127.0.0.1/cb"}'),
    st.just(b'{"client_name": NaN, "grant_types": Infinity}'),
    st.just(b'{"client_name": ' + b"9" * 5000 + b"}"),
    st.just(b'{"client_name": "\\ud800"}'),
    st.just(b"\xef\xbb\xbf{}"),
    st.just('{"client_name": "x"}'.encode("utf-16")),
    st.binary(max_size=200),
    json_values.map(lambda value: _raw(json.dumps(value))),
)

json_content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/json; charset=utf-16",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ]
)

form_content_types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "Application/X-WWW-Form-Urlencoded",
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
    ]
)


def _encoded(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


#: One percent-encoded parameter value short enough for a URL: hostile text, a near miss, broken escapes.
query_value = st.one_of(
    any_text.map(_encoded),
    near_miss.map(_encoded),
    st.sampled_from(["%", "%z", "%zz", "%ff", "%c3%28", "%ed%a0%80", "+", "%2B", "&", "="]),
    st.integers(2000, 4000).map(lambda size: "a" * size),
)

#: The same, or large enough to cross the body limit on its own.
body_value = query_value | st.integers(BODY_LIMIT - 64, BODY_LIMIT + 64).map(lambda size: "a" * size)


def form_pairs(
    names: list[str], valid: dict[str, str] | None = None, values: st.SearchStrategy[str] = body_value
) -> st.SearchStrategy[str]:
    """An urlencoded parameter list over ``names``, some ``valid``, with repeats and strays."""
    known = {name: quote(value, safe="") for name, value in (valid or {}).items()}
    value_for = {name: st.sampled_from([known[name]]) | values if name in known else values for name in names}
    pair = st.sampled_from(names).flatmap(lambda name: value_for[name].map(lambda value: f"{name}={value}"))
    return st.lists(pair | values, max_size=12).map("&".join)


def form_bodies(names: list[str], valid: dict[str, str] | None = None) -> st.SearchStrategy[bytes]:
    """A form body: usually well-formed pairs with hostile values, sometimes bytes that are not UTF-8."""
    return form_pairs(names, valid).map(str.encode) | st.binary(max_size=200)


def _basic(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


#: Header values a server must survive: bytes that can legally cross HTTP/1.1, but nothing more.
header_bytes = st.binary(max_size=300).map(lambda raw: bytes(b for b in raw if b == 9 or 32 <= b != 127))

hostile_authorization = st.one_of(
    header_bytes,
    header_bytes.map(lambda raw: b"Basic " + raw),
    header_bytes.map(lambda raw: b"Bearer " + raw),
    st.binary(max_size=60).map(_basic),
    st.sampled_from([b"id-without-colon", b":secret", b"%ff:%ff", b"\xff\xfe:x", b"a:b:c"]).map(_basic),
    st.sampled_from([b"Basic", b"Basic ", b"Bearer", b"Bearer ", b"Basic ====", b"Basic YQ", b"bearer a.b.c"]),
    st.integers(4000, 8000).map(lambda size: b"Basic " + b"A" * size),
).map(bytes.strip)  # HTTP/1.1 allows no whitespace around a field value (RFC 9110 §5.5)


#: Cookie headers: garbage, or this server's cookie names with garbage values.
hostile_cookies = st.one_of(
    header_bytes,
    st.tuples(st.sampled_from([b"as_browser=", b"as_session=", b"as_browser=a; as_browser="]), header_bytes).map(
        b"".join
    ),
    st.integers(3000, 6000).map(lambda size: b"as_browser=" + b"A" * size),
).map(bytes.strip)


def assert_no_traceback(server: AuthorizationServer | McpServer) -> None:
    """The server's log shows no unexpected exception: every hostile request was answered on purpose."""
    assert "Traceback" not in server.program.log()
