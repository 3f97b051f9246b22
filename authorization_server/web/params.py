"""Request parameters and bodies, read strictly.

OAuth 2.1 §3.1 and §3.2: parameters sent without a value are treated as omitted, unknown ones
are ignored, and a parameter must not be included more than once (``resource`` may repeat,
RFC 8707 §2). Bodies larger than the configured limit are refused before they are read whole.
"""

import json
from urllib.parse import parse_qsl

from starlette.requests import Request

from mcp_authz.authorization_server.errors import InvalidRequest, RequestTooLarge

MAX_FIELDS = 64


class Params:
    """Parameters of one request, from a query string or a form body."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    @classmethod
    def parse(cls, encoded: str) -> "Params":
        """Decode ``application/x-www-form-urlencoded`` text; malformed input is ``invalid_request``."""
        try:
            return cls(parse_qsl(encoded, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS))
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("the parameters are not valid application/x-www-form-urlencoded UTF-8") from None

    def get(self, name: str) -> str | None:
        """The value of ``name``, ``None`` if absent or empty; repeated is ``invalid_request``."""
        values = self._values.get(name, [])
        if len(values) > 1:
            raise InvalidRequest(f"the {name} parameter is repeated")
        return values[0] if values and values[0] else None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise InvalidRequest(f"the {name} parameter is required")
        return value

    def get_all(self, name: str) -> list[str]:
        """Every non-empty value of a parameter that may repeat."""
        return [value for value in self._values.get(name, []) if value]


def query_params(request: Request) -> Params:
    return Params.parse(request.url.query)


async def read_form(request: Request, limit: int) -> Params:
    """The form body of a POST; anything but ``application/x-www-form-urlencoded`` is refused."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    body = await read_body(request, limit)
    try:
        return Params.parse(body.decode())
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not UTF-8") from None


async def read_json(request: Request, limit: int) -> object:
    """The JSON body of a POST; ``ValueError`` when it is not JSON (callers choose the error code)."""
    if _media_type(request) != "application/json":
        raise ValueError("the body must be application/json")
    body = await read_body(request, limit)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("the body is not valid JSON") from None


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()
