"""Scope strings (RFC 6749 §3.3).

``scope = scope-token *( SP scope-token )`` with ``scope-token = 1*( %x21 / %x23-5B / %x5D-7E )``.
Order does not matter and duplicates carry no meaning, so scopes are handled as tuples in their
first-seen order (which keeps messages and tokens readable) and compared as sets.
"""

import re

SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def parse_scope(value: str) -> tuple[str, ...]:
    """Split a scope string into its tokens; ``ValueError`` names the first malformed one."""
    tokens: list[str] = []
    for token in value.split(" "):
        if not token:
            continue
        if not SCOPE_TOKEN.fullmatch(token):
            raise ValueError(f"{token!r} is not a valid scope token (RFC 6749 §3.3)")
        if token not in tokens:
            tokens.append(token)
    return tuple(tokens)


def format_scope(scopes: tuple[str, ...] | list[str]) -> str:
    """Join scope tokens with single spaces, the wire form of RFC 6749 §3.3."""
    return " ".join(scopes)
