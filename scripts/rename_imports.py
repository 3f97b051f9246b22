"""The one mechanical rewrite of decision 0036: import the four folders under ``mcp_authz``.

``python scripts/rename_imports.py`` (from the repository's root) rewrites, in every ``.py`` file
of the programs, the tests, the scripts and ``client.py``:

- ``from X...`` and ``import X... as y`` to ``from mcp_authz.X...`` and ``import mcp_authz.X... as y``,
  for X in ``authorization_server``, ``mcp_server``, ``client`` and ``shared``;
- a string literal that is a dotted path into one of them (a ``mock.patch`` or
  ``monkeypatch.setattr`` target such as ``"client.wire.open_client"``) the same way, when its
  second part is a module or package of that folder (so ``"client.json"`` stays a file name).

Process starts (``"-m", "authorization_server"``) are left as they are: ``python -m
authorization_server`` keeps working from a checkout. So are the import contracts' prefixes,
which name folders (tests/test_import_contracts.py reads ``mcp_authz.X`` as ``X``).

It reads the code with ``tokenize``, so text in strings and comments that merely looks like an
import is left alone. An ``import X.y`` without ``as`` binds the name ``X``, which a rewrite would
change: such a line is reported, not rewritten, and the script exits 1. Then ruff sorts the
imports of the files it changed (``mcp_authz`` sorts elsewhere among first-party names) and
formats them (a longer import may wrap). It prints each file it changed with its count; run
twice, the second run changes nothing. Open branches run it after merging instead of resolving
conflicts by hand.
"""

import argparse
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UMBRELLA = "mcp_authz"
PACKAGES = ("authorization_server", "mcp_server", "client", "shared")
#: Where the files to rewrite are: the four programs, the tests and the scripts, and client.py.
FOLDERS = (*PACKAGES, "tests", "scripts")
FILES = ("client.py",)
DOTTED = re.compile(r"(?P<quote>['\"])(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?P=quote)")
#: Tokens after which a new statement begins.
STATEMENT_START = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}


class Unrewritable(Exception):
    """An import whose rewrite would change the names it binds (``import client.cli``)."""


def sources(root: Path) -> list[Path]:
    found = [root / name for name in FILES if (root / name).is_file()]
    for folder in FOLDERS:
        found.extend(path for path in sorted((root / folder).rglob("*.py")) if "__pycache__" not in path.parts)
    return found


def is_module_path(root: Path, dotted: str) -> bool:
    """Whether ``dotted`` names something inside one of the four folders: ``X.module[.attribute...]``."""
    package, _, rest = dotted.partition(".")
    first = rest.split(".")[0]
    return package in PACKAGES and ((root / package / f"{first}.py").is_file() or (root / package / first).is_dir())


def rewrite(text: str, root: Path) -> tuple[str, int, list[str]]:
    """``text`` with its imports (and dotted string targets) under ``mcp_authz``; the count; what it refused."""
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    inserts: list[tuple[int, int, str]] = []  # (row, column, text to insert there)
    replacements: list[tuple[int, int, int, str]] = []  # (row, start column, end column, new text)
    refused: list[str] = []
    significant = [t for t in tokens if t.type not in (tokenize.COMMENT,)]
    previous: tokenize.TokenInfo | None = None
    for index, token in enumerate(significant):
        starts_statement = previous is None or previous.type in STATEMENT_START or previous.string == ";"
        if token.type == tokenize.NAME and token.string == "from" and starts_statement:
            module = significant[index + 1]
            if module.type == tokenize.NAME and module.string in PACKAGES:
                inserts.append((*module.start, f"{UMBRELLA}."))
        elif token.type == tokenize.NAME and token.string == "import" and starts_statement:
            inserts.extend(_import_names(significant, index + 1, refused))
        elif token.type == tokenize.STRING and token.start[0] == token.end[0]:
            match = DOTTED.fullmatch(token.string)
            if match and is_module_path(root, match["path"]):
                new = f"{match['quote']}{UMBRELLA}.{match['path']}{match['quote']}"
                replacements.append((token.start[0], token.start[1], token.end[1], new))
        previous = token
    lines = text.splitlines(keepends=True)
    edits = [(row, column, column, new) for row, column, new in inserts] + replacements
    for row, start, end, new in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new + line[end:]
    return "".join(lines), len(edits), refused


def _import_names(tokens: list[tokenize.TokenInfo], index: int, refused: list[str]) -> list[tuple[int, int, str]]:
    """The insertions for ``import a.b as c, d`` from ``index`` (the first name) to the end of the statement."""
    inserts = []
    while index < len(tokens):
        name = tokens[index]
        dotted, index = _dotted(tokens, index)
        aliased = index < len(tokens) and tokens[index].string == "as"
        if aliased:
            index += 2
        if dotted.split(".")[0] in PACKAGES:
            if aliased:
                inserts.append((*name.start, f"{UMBRELLA}."))
            else:
                refused.append(f"line {name.start[0]}: import {dotted} (binds {dotted.split('.')[0]}; rewrite by hand)")
        if index < len(tokens) and tokens[index].string == ",":
            index += 1
            continue
        return inserts
    return inserts


def _dotted(tokens: list[tokenize.TokenInfo], index: int) -> tuple[str, int]:
    parts = [tokens[index].string]
    index += 1
    while index + 1 < len(tokens) and tokens[index].string == ".":
        parts.append(tokens[index + 1].string)
        index += 2
    return ".".join(parts), index


def tidy(root: Path, paths: list[Path]) -> None:
    """Sort the changed files' imports and format them, with the project's ruff settings."""
    if not paths:
        return
    ruff = [sys.executable, "-m", "ruff"]
    names = [str(path) for path in paths]
    subprocess.run([*ruff, "check", "--quiet", "--select", "I", "--fix", *names], cwd=root, check=False)
    subprocess.run([*ruff, "format", "--quiet", *names], cwd=root, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository to rewrite (default: this one)")
    parser.add_argument("--no-tidy", action="store_true", help="do not run ruff on the changed files")
    options = parser.parse_args(argv)
    root = options.root.resolve()
    changed = []
    failed = False
    for path in sources(root):
        text = path.read_text()
        new, count, refused = rewrite(text, root)
        for line in refused:
            print(f"{path.relative_to(root)}: NOT REWRITTEN {line}")
            failed = True
        if new != text:
            path.write_text(new)
            changed.append(path)
            print(f"{path.relative_to(root)}: {count} rewritten")
    print(f"{len(changed)} files changed" if changed else "nothing to change")
    if not options.no_tidy:
        tidy(root, changed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
