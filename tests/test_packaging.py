"""Issue 17, packaging: the wheel's console scripts, one per program, and its one top-level name.

Built as an operator would (``pip wheel . --no-deps``, from a copy of the sources, ``mcp_authz/``'s
links included, so that the checkout gets no build/ folder), installed into a ``--target``
directory with the test's own interpreter, whose site-packages give the dependencies
(docs/decisions/0036-packaging.md).
"""

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import version
from pathlib import Path

import httpx2
import pytest

from scripts.stack import free_port
from tests.waiting import eventually

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


#: The walkthrough an operator follows after `pip install` (issue 17, "Done when").
INSTALL_DOC = ROOT / "docs" / "install.md"
#: The doc's ports, and the environment variables that move their defaults.
DOC_PORTS = {"9000": "AS_PORT", "8000": "MCP_PORT", "9464": None}


def documented_commands() -> list[str]:
    """The lines of docs/install.md's ``sh`` blocks after the installation: the three commands, exports, curl."""
    lines, in_block = [], False
    for line in INSTALL_DOC.read_text().splitlines():
        if line.startswith("```"):
            in_block = line == "```sh"
        elif in_block and line.startswith(("mcp-", "export ", "curl ")):
            lines.append(line)
    return lines


def test_docs_install_md_from_pip_install_to_a_served_mcp_server(wheel: Path, tmp_path: Path):
    """Issue 17, "Done when": from `pip install` to a served MCP server with a user, a client approved
    for machine access (OAuth 2.1 §4.2) and metrics scraped, with the console scripts only.

    Follows docs/install.md's commands as written, in a fresh virtual environment where the wheel is
    the only copy of the code (the test's own site-packages give the dependencies, as pip would
    from the index), with other ports: ``AS_PORT``, ``MCP_PORT`` and the URLs moved. An ``export``
    of a value that an earlier command printed takes the printed value; a server command runs until
    its health probe answers; ``curl`` is a GET."""
    venv, work = fresh_venv(wheel, tmp_path / "venv"), tmp_path / "work"
    work.mkdir()
    ports = {doc: str(free_port()) for doc in DOC_PORTS}
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("AS_", "MCP_", "PYTHON"))}
    environ |= {"PATH": f"{venv / 'bin'}:{environ['PATH']}", "XDG_STATE_HOME": str(tmp_path / "state")}
    environ |= {variable: ports[doc] for doc, variable in DOC_PORTS.items() if variable}
    printed: dict[str, str] = {}
    servers: list[subprocess.Popen[bytes]] = []
    outputs: dict[str, str] = {}
    try:
        for documented in documented_commands():
            line = documented
            for doc, port in ports.items():
                line = re.sub(rf"(?<=[:\s]){doc}\b", port, line)
            program, *args = shlex.split(line)
            if program == "export":
                name = args[0].split("=")[0]
                value = printed.get(name) or run(["bash", "-c", f'{line}; printf %s "${name}"'], env=environ).stdout
                assert value, documented
                environ[name] = value
            elif program == "curl":
                (url,) = [arg for arg in args if arg.startswith("http")]
                outputs[documented] = httpx2.get(url, timeout=10).text
            elif program == "mcp-demo-server" or (program == "mcp-authorization-server" and args[0].startswith("-")):
                log = tmp_path / f"{program}.log"
                with log.open("wb") as out:
                    command = ["bash", "-c", f"exec {line}"]
                    servers.append(
                        subprocess.Popen(command, cwd=work, env=environ, stdout=out, stderr=subprocess.STDOUT)
                    )
                probe = f"http://localhost:{ports['8000']}/health"
                if program == "mcp-authorization-server":
                    probe = f"http://localhost:{ports['9000']}/health/ready"
                eventually(lambda server=servers[-1], probe=probe, log=log: _ready(server, probe, log))
            else:
                done = run(["bash", "-c", line], cwd=work, env=environ, input="correct horse battery staple\n" * 2)
                assert done.returncode == 0, (documented, done.stdout, done.stderr)
                outputs[documented] = done.stdout
                for name, value in re.findall(r"^\s+(client_id|client_secret)\s+(\S+)$", done.stdout, re.MULTILINE):
                    printed[name.upper()] = value
        # The installed copy's data, which no command above needs: a page (templates) and its style sheet.
        home = httpx2.get(f"http://localhost:{ports['9000']}/", timeout=10)
        style = httpx2.get(f"http://localhost:{ports['9000']}/static/style.css", timeout=10)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)

    said = {command.split(" --")[0]: out for command, out in outputs.items()}
    assert said["mcp-authorization-server users add alice"].startswith("added user alice")
    assert "client_credentials for notes: mcp:read" in said["mcp-authorization-server clients add"]
    assert "5/8 token: access token" in said["mcp-auth-client"]
    assert "whoami" in said["mcp-auth-client"].split("6/8 call:")[1]
    assert (
        'as_tokens_issued_total{grant_type="client_credentials",kind=""} 1.0'
        in said["curl -s http://127.0.0.1:9464/metrics"]
    )
    assert (home.status_code, home.headers["content-type"], style.status_code) == (200, "text/html; charset=utf-8", 200)


def fresh_venv(wheel: Path, venv: Path) -> Path:
    """A virtual environment with the wheel pip-installed (``--no-deps``: the dependencies come from
    this interpreter's site-packages, named in a .pth, so that no index is needed)."""
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    python = str(venv / "bin" / "python")
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    ours = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    (purelib / "dependencies.pth").write_text("\n".join(ours) + "\n")
    installed = run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", str(wheel)])
    assert installed.returncode == 0, installed.stderr
    return venv


def _ready(server: subprocess.Popen[bytes], probe: str, log: Path) -> bool:
    """Whether the server answers its health probe; fails at once, with its log, if it exited."""
    assert server.poll() is None, log.read_text()
    try:
        return httpx2.get(probe, timeout=2).status_code == 200
    except httpx2.HTTPError:
        return False
