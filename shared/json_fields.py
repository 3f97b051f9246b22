"""Typed reads from JSON objects that arrived over the wire.

Every document a program receives (metadata, token responses) is untrusted input: a field of
the wrong type is an error that names the field, never a ``KeyError`` or ``AttributeError``.
"""

from typing import Any


def as_object(data: object, what: str) -> dict[str, Any]:
    """``data`` if it is a JSON object, else ``ValueError``."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object")
    return data


def optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f'"{name}" must be a string')
    return value


def required_str(data: dict[str, Any], name: str) -> str:
    value = optional_str(data, name)
    if not value:
        raise ValueError(f'"{name}" is required')
    return value


def optional_str_list(data: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f'"{name}" must be an array of strings')
    return tuple(value)


def optional_bool(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f'"{name}" must be true or false')
    return value


def optional_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f'"{name}" must be an integer')
    return value


def without_none(fields: dict[str, Any]) -> dict[str, Any]:
    """RFC 8414 §3.2 and RFC 9728 §3.2: parameters with no value are omitted."""
    return {name: value for name, value in fields.items() if value is not None}
