"""Issue 17 (packaging), decision 0036: the mechanical rewrite to ``mcp_authz`` (scripts/rename_imports.py).

In-process, on texts: what it rewrites, what it leaves alone, and that a second run changes nothing.
"""

from pathlib import Path

from scripts.rename_imports import ROOT, main, rewrite

BEFORE = '''"""A docstring that says
from client import cli
"""

import json
from client.cli import main  # from shared import x
from shared import (
    scopes,
)
import authorization_server.settings as settings
from .wire import open_client
from clientele import thing

if True:
    from mcp_server.app import create_app; from authorization_server import clock

PATCHED = mock.patch("client.wire.open_client")
FILES = ("client.json", "mcp_server.log", "-m", "authorization_server")
'''

AFTER = '''"""A docstring that says
from client import cli
"""

import json
from mcp_authz.client.cli import main  # from shared import x
from mcp_authz.shared import (
    scopes,
)
import mcp_authz.authorization_server.settings as settings
from .wire import open_client
from clientele import thing

if True:
    from mcp_authz.mcp_server.app import create_app; from mcp_authz.authorization_server import clock

PATCHED = mock.patch("mcp_authz.client.wire.open_client")
FILES = ("client.json", "mcp_server.log", "-m", "authorization_server")
'''


def test_imports_and_patch_targets_move_under_mcp_authz_and_nothing_else_does():
    """Decision 0036: ``from X`` / ``import X... as y`` and dotted string targets get ``mcp_authz.``;
    docstrings, comments, relative imports, look-alike names, file names and ``-m`` starts do not."""
    rewritten, count, refused = rewrite(BEFORE, ROOT)

    assert (rewritten, count, refused) == (AFTER, 6, [])


def test_a_second_run_changes_nothing():
    """Decision 0036: the rewrite is idempotent, so a merged branch can run it again safely."""
    assert rewrite(AFTER, ROOT) == (AFTER, 0, [])


def test_an_import_whose_rewrite_would_change_the_bound_name_is_refused():
    """Decision 0036: ``import client.cli`` binds ``client``; it is reported for a hand rewrite, not changed."""
    text = "import os, client.cli\n"

    rewritten, count, refused = rewrite(text, ROOT)

    assert (rewritten, count) == (text, 0)
    assert refused == ["line 1: import client.cli (binds client; rewrite by hand)"]


def test_the_command_reports_a_refusal_and_fails(tmp_path: Path, capsys):
    """Decision 0036: the script prints what it changed, and exits 1 when it left an import for a hand rewrite."""
    (tmp_path / "client.py").write_text("import client.cli\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("from shared import scopes\n")

    status = main(["--root", str(tmp_path), "--no-tidy"])

    assert status == 1
    assert (tmp_path / "tests" / "test_x.py").read_text() == "from mcp_authz.shared import scopes\n"
    assert capsys.readouterr().out.splitlines() == [
        "client.py: NOT REWRITTEN line 1: import client.cli (binds client; rewrite by hand)",
        "tests/test_x.py: 1 rewritten",
        "1 files changed",
    ]
