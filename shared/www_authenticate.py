"""Bearer challenges in ``WWW-Authenticate`` (RFC 6750 §3, RFC 9728 §5.1, RFC 9110 §11.6.1).

The MCP server builds them; the client parses them. A header may hold several challenges
(``Basic realm="x", Bearer error="invalid_token"``), parameter values are tokens or quoted
strings, and scheme and parameter names are case-insensitive.
"""

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class Challenge:
    """One challenge: its scheme (lower-cased) and its parameters (names lower-cased)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def bearer_challenge(**params: str | None) -> str:
    """``Bearer name="value", ...`` with the values quoted; ``None`` values are left out."""
    parts = [f'{name}="{quote(value)}"' for name, value in params.items() if value is not None]
    return "Bearer " + ", ".join(parts) if parts else "Bearer"


def find_challenge(header: str, scheme: str) -> Challenge | None:
    """The first challenge of ``scheme`` in a ``WWW-Authenticate`` value, if any."""
    wanted = scheme.lower()
    return next((c for c in parse_challenges(header) if c.scheme == wanted), None)


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in a ``WWW-Authenticate`` value, in order; malformed tails are dropped."""
    challenges: list[Challenge] = []
    pos = 0
    while True:
        pos = _skip(header, pos, " \t,")
        scheme = _TOKEN.match(header, pos)
        if scheme is None:
            return challenges
        pos = scheme.end()
        params: dict[str, str] = {}
        challenges.append(Challenge(scheme.group().lower(), params))
        pos = _parse_params(header, pos, params)


def _parse_params(header: str, pos: int, params: dict[str, str]) -> int:
    after_scheme = _skip(header, pos, " \t")
    token68 = _TOKEN68.match(header, after_scheme)
    if (
        after_scheme > pos
        and token68
        and _at_challenge_end(header, token68.end())
        and not _is_param_start(header, after_scheme)
    ):
        return token68.end()  # a token68 credential (RFC 9110 §11.2), not a parameter
    while True:
        start = _skip(header, pos, " \t,")
        if not _is_param_start(header, start):
            return start  # the end, or the next challenge's scheme
        name = _TOKEN.match(header, start)
        assert name is not None
        value_start = _skip(header, _skip(header, name.end(), " \t") + 1, " \t")
        value, pos = _read_value(header, value_start)
        if value is None:
            return len(header)
        params.setdefault(name.group().lower(), value)


def _is_param_start(header: str, pos: int) -> bool:
    """``name =`` starts an auth-param; a token followed by anything else starts a challenge."""
    name = _TOKEN.match(header, pos)
    if name is None:
        return False
    after_name = _skip(header, name.end(), " \t")
    return header.startswith("=", after_name) and not header.startswith("==", after_name)


def _read_value(header: str, pos: int) -> tuple[str | None, int]:
    if header.startswith('"', pos):
        chars: list[str] = []
        pos += 1
        while pos < len(header):
            char = header[pos]
            if char == "\\" and pos + 1 < len(header):
                chars.append(header[pos + 1])
                pos += 2
            elif char == '"':
                return "".join(chars), pos + 1
            else:
                chars.append(char)
                pos += 1
        return None, pos  # unterminated quoted string
    token = _TOKEN.match(header, pos)
    return (token.group(), token.end()) if token else (None, pos)


def _at_challenge_end(header: str, pos: int) -> bool:
    rest = _skip(header, pos, " \t")
    return rest == len(header) or header[rest] == ","


def _skip(header: str, pos: int, chars: str) -> int:
    while pos < len(header) and header[pos] in chars:
        pos += 1
    return pos


def quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
