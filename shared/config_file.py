"""What both servers' configuration files share (``--config PATH``, docs/configuration.md, docs/decisions/0037).

A file is a TOML document whose top-level keys are the settings' names. Each server knows its own
settings and checks their values; reading the document and the words of each mistake are the same
for both: one line naming the file, so that a bad file stops the program with one line.
"""

import difflib
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: How a value of each TOML type a setting takes is named in a mistake.
WANTED = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML document at ``path``; ``ValueError`` in one line if it cannot be read or is not TOML."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ValueError(f"configuration file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"configuration file {path}: not TOML: {exc}") from None


def not_a_setting(path: Path, key: str, known: Iterable[str]) -> ValueError:
    """The mistake of a key that names no setting, with the closest setting's name when one is close."""
    close = difflib.get_close_matches(key.replace("-", "_"), list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ValueError(f"configuration file {path}: {key!r} is not a setting{hint}")


def wrong_type(path: Path, key: str, kind: type, value: object) -> ValueError:
    """The mistake of a value of another TOML type than the setting's ``kind`` (a key of ``WANTED``)."""
    return ValueError(f"configuration file {path}: {key} must be {WANTED[kind]}, not {value!r}")
