"""Issue 17, packaging: the wheel's console scripts, one per program, and its one top-level name.

Built as an operator would (``pip wheel . --no-deps``, from a copy of the sources, ``mcp_authz/``'s
links included, so that the checkout gets no build/ folder), installed into a ``--target``
directory with the test's own interpreter, whose site-packages give the dependencies
(docs/decisions/0036-packaging.md).
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: What the wheel is built from: the project's metadata, its four folders and mcp_authz/, which links to them.
SOURCES = ("pyproject.toml", "README.md", "mcp_authz", "authorization_server", "mcp_server", "client", "shared")
#: Each program's command after ``pip install``, and what its --help starts with.
COMMANDS = {
    "mcp-authorization-server": "An OAuth 2.1 authorization server for MCP",
    "mcp-demo-server": "The reference MCP server",
    "mcp-auth-client": "usage:",
}


def run(args: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, **options)  # type: ignore[call-overload]


@pytest.fixture(name="wheel", scope="module")
def _wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    # setuptools builds wheels by itself from 70.1, before that with the wheel package: with either here,
    # no isolated build environment (and no download) is needed.
    isolation = ["--no-build-isolation"] if _builds_wheels_here() else []
    built = run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet", "-w", str(out), *isolation])
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(name="installed", scope="module")
def _installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    done = run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)])
    assert done.returncode == 0, done.stderr
    return target


def _builds_wheels_here() -> bool:
    """Whether this interpreter's setuptools can build a wheel without pip fetching a newer one."""
    if importlib.util.find_spec("wheel") is not None:
        return True
    major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    return (major, minor) >= (70, 1)


def top_level_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}


def test_the_wheel_holds_the_three_programs_and_their_vocabulary_under_one_name(wheel: Path):
    """Issue 17 (packaging), decision 0036: one top-level name, ``mcp_authz``, with the four folders
    under it, the authorization server's data (migrations, templates, static files) included."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert top_level_names(wheel) == {"mcp_authz"}
    for package in ("authorization_server", "mcp_server", "client", "shared"):
        assert f"mcp_authz/{package}/__init__.py" in names
    for data in ("migrations/", "templates/", "static/"):
        assert any(name.startswith(f"mcp_authz/authorization_server/{data}") for name in names), data


def test_no_generic_top_level_names_are_left(wheel: Path):
    """Issue 17 (packaging): no generic top-level package names (`client`, `shared`) in site-packages."""
    assert not top_level_names(wheel) & {"client", "shared"}


@pytest.mark.parametrize(("command", "says"), COMMANDS.items())
def test_each_program_has_its_console_script(installed: Path, tmp_path: Path, command: str, says: str):
    """Issue 17 (packaging): after `pip install`, one command per program, which runs the installed code."""
    environ = {**os.environ, "PYTHONPATH": str(installed)}
    script = installed / "bin" / command

    helped = run([str(script), "--help"], cwd=tmp_path, env=environ)
    located = run(
        [
            sys.executable,
            "-c",
            "import mcp_authz.client, mcp_authz.shared, mcp_authz.mcp_server as m; print(m.__file__)",
        ],
        cwd=tmp_path,
        env=environ,
    )

    assert (helped.returncode, helped.stderr) == (0, "")
    assert says in " ".join(helped.stdout.split())
    assert located.stdout.startswith(str(installed))  # the wheel's copy, not the checkout's
