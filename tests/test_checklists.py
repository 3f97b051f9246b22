"""The checklists in docs/ name tests that exist: each ``file::test`` and ``Class.test`` of their tables.

docs/checklist-*.md map SPEC-CHECKLIST rows to the tests that check them. A test renamed or
removed would leave a row claiming evidence that is gone; this test reads each table's last column
as its conventions say (``file::test`` and ``::test`` for another test of the same file;
``file``: ``Class.test`` and ``.test`` for another test of the same class) and finds every name.
"""

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripts.stack import ROOT

#: Each checklist and the folder its bare file names are in.
CHECKLISTS = {
    "checklist-authorization-server.md": "tests/authorization_server",
    "checklist-resource-server.md": "tests/mcp_server",
    "checklist-client.md": "tests/client",
}
TEST_FILE = re.compile(r"^((?:[\w.]+/)*test_\w+\.py)(?:::(\w+))?")
TEST_NAME = re.compile(r"^(?:::|\.)?(Test\w+|test_\w+)(?:\.(test_\w+))?$")
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass
class SourceFile:
    """The tests of one file: top-level functions and classes, and each class's methods."""

    path: Path
    names: set[str] = field(default_factory=set)
    methods: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> "SourceFile":
        found = cls(path)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                found.methods[node.name] = {item.name for item in node.body if isinstance(item, FUNCTIONS)}
                found.names |= {node.name} | found.methods[node.name]
            elif isinstance(node, FUNCTIONS):
                found.names.add(node.name)
        return found


def missing_names(checklist: str, folder: str) -> list[str]:
    """The tests the checklist's tables name that do not exist, as ``row: what is missing``."""
    missing: list[str] = []
    for line in (ROOT / "docs" / checklist).read_text().splitlines():
        if not line.startswith("| ") or line.startswith("|---"):
            continue
        row, tests = line.split("|")[1].strip(), line.rstrip(" |").split("|")[-1]
        current: SourceFile | None = None
        current_class: str | None = None
        for token in re.findall(r"`([^`]+)`", tests):
            if file_match := TEST_FILE.match(token):
                path = ROOT / (file_match[1] if file_match[1].startswith("tests/") else f"{folder}/{file_match[1]}")
                if not path.is_file():
                    missing.append(f"{row}: {token}")
                    current = None
                    continue
                current, current_class = SourceFile.read(path), None
                if file_match[2] and file_match[2] not in current.names:
                    missing.append(f"{row}: {token}")
            elif (name_match := TEST_NAME.match(token)) and current is not None:
                if token.startswith(".") and current_class is not None:
                    known = current.methods.get(current_class, set())
                    if name_match[1] not in known:
                        missing.append(f"{row}: {current.path.name} {current_class}{token}")
                elif name_match[2] is not None:
                    current_class = name_match[1]
                    if name_match[2] not in current.methods.get(current_class, set()):
                        missing.append(f"{row}: {current.path.name} {token}")
                elif name_match[1] not in current.names:
                    missing.append(f"{row}: {current.path.name} {token}")
    return missing


@pytest.mark.parametrize("checklist", sorted(CHECKLISTS))
def test_every_test_a_checklist_names_exists(checklist: str) -> None:
    """The evidence of docs/checklist-*.md (SPEC-CHECKLIST rows, USER-NEEDS themes) is tests that exist."""
    assert missing_names(checklist, CHECKLISTS[checklist]) == []
