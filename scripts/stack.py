"""Starting the project's servers as real processes, for the demo and for the tests.

Each program runs as ``python -m <package>`` on a loopback port and is ready when it answers
HTTP. One that does not come up in time is stopped, and the error carries its log.

For the tests that check protocol behaviour, the authorization server can also run in this
process (:class:`InProcessProgram`): the same application and uvicorn options on a thread, on a
loopback port, with a real SQLite file and a log file of its own; its command line runs in this
process too. The tests' HTTP calls are unchanged. See docs/testing.md.
"""

import contextlib
import contextvars
import io
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import unittest.mock
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import uvicorn

from mcp_authz.authorization_server import settings as settings_module
from mcp_authz.authorization_server.app import create_app
from mcp_authz.authorization_server.cli import main as cli_main
from mcp_authz.authorization_server.cli.serve import uvicorn_options
from mcp_authz.authorization_server.encryption import local_key

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
#: The abuse controls (docs/decisions/0011) would refuse a load from one address within a second.
UNLIMITED_RATES = {
    "AS_RATE_LIMIT_AUTHORIZE": "1000000000/s",
    "AS_RATE_LIMIT_REGISTER": "1000000000/s",
    "AS_RATE_LIMIT_TOKEN_CLIENT": "1000000000/s",
    "AS_RATE_LIMIT_TOKEN_IP": "1000000000/s",
    "AS_RATE_LIMIT_FETCH": "1000000000/s",
    "AS_RATE_LIMIT_REVOKE": "1000000000/s",
    "AS_RATE_LIMIT_INTROSPECT_FAILURES": "1000000000/s",
}
#: Debian's Chromium, for the tests and the conformance run: Playwright cannot download its own
#: browser here. The flags keep it from reaching for the network, which this machine's closed
#: network refuses.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


#: The ports :func:`free_port` handed out in this process: a port is free when chosen, not when a server binds it.
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never one this process was given before.

    Between this call and the server's ``bind`` the port is free for anyone; the kernel may pick the
    same one again for the next call (``port, other = free_port(), free_port()``), and two servers
    would then share it, the second's requests answered by the first (a 404 from the wrong server).
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


@dataclass
class Program:
    """A running program of this repository (``python -m <module> ...``)."""

    args: list[str]
    log_path: Path
    ready_url: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Program":
        with self.log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, *self.args],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.args} exited with {self.process.returncode}:\n{self.log()}")
            try:
                httpx2.get(self.ready_url, timeout=1.0)
                return self
            except httpx2.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.args} did not answer {self.ready_url} in {STARTUP_TIMEOUT} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


#: The in-process server whose thread (and the tasks and threads it starts) is logging, if any.
_serving: contextvars.ContextVar["InProcessProgram | None"] = contextvars.ContextVar("serving", default=None)
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _PerServerLog(logging.Handler):
    """Writes each record to the log file of the in-process server that emitted it, as its process would."""

    def emit(self, record: logging.LogRecord) -> None:
        program = _serving.get()
        if program is not None:
            program.write_log(self.format(record))


_per_server_log = _PerServerLog()
_per_server_log.setFormatter(logging.Formatter(_LOG_FORMAT))


class _ThreadServer(uvicorn.Server):
    """uvicorn on a thread: ``ready`` is set once it listens, or once it has given up."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            super().run(sockets)
        finally:
            self.ready.set()


@dataclass
class InProcessProgram:
    """The authorization server served by uvicorn on a thread of this process, as ``python -m authorization_server
    OPTIONS`` would serve it: the same settings (options, then ``env`` over this process's environment), the
    same application and uvicorn options, its own log file. It starts in milliseconds instead of a second.

    No signals, no exit status, no crash: tests of those start a :class:`Program`.
    """

    options: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    server: _ThreadServer | None = None
    thread: threading.Thread | None = None
    _log_lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "InProcessProgram":
        settings = settings_module.from_options(self.options, {**os.environ, **self.env})
        settings.require_key_encryption_key()
        root = logging.getLogger()
        if _per_server_log not in root.handlers:
            root.addHandler(_per_server_log)
        root.setLevel(min(root.level, logging.getLevelName(settings.log_level.upper())))
        # log_config=None: uvicorn's records go to the root logger, hence to this server's log, as in its process.
        config = uvicorn.Config(create_app(settings), **uvicorn_options(settings), log_config=None)
        self.server = _ThreadServer(config)
        context = contextvars.copy_context()
        context.run(_serving.set, self)
        self.thread = threading.Thread(
            target=context.run, args=(self.server.run,), name=f"authorization server {settings.port}", daemon=True
        )
        self.thread.start()
        if not self.server.ready.wait(STARTUP_TIMEOUT) or not self.server.started:
            self.stop()
            raise RuntimeError(f"{self.options} did not start:\n{self.log()}")
        return self

    def stop(self) -> None:
        """What SIGINT does to the process: uvicorn's graceful shutdown, the lifespan's end."""
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
            self.server = self.thread = None

    def write_log(self, line: str) -> None:
        with self._log_lock, self.log_path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class AuthorizationServer:
    """A running authorization server, its database, and its command line."""

    program: Program | InProcessProgram
    port: int
    #: The SQLite file, or the PostgreSQL URL, given as ``--db``.
    db: Path | str
    #: The issuer's host: ``localhost``, or ``127.0.0.1`` for a provider whose cookies must not mix with ours.
    host: str = "localhost"
    #: What the server's environment adds, its command line's too: the key that seals its signing keys.
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def issuer_for(self, mcp_server_id: str) -> str:
        return f"{self.url}/mcp/{mcp_server_id}"

    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``python -m authorization_server ARGS --db <this server's db>``, in-process for an in-process one."""
        argv = ["-m", "authorization_server", *args, "--db", str(self.db)]
        if isinstance(self.program, InProcessProgram):
            return run_cli_in_process(argv, input=input, check=check, env=self.env)
        return run_cli(argv, input=input, check=check, env=self.env)


def start_authorization_server(
    workdir: Path,
    *options: str,
    demo: bool = True,
    mcp_port: int | None = None,
    port: int | None = None,
    demo_resource: str | None = None,
    host: str = "localhost",
    env: dict[str, str] | None = None,
    in_process: bool = False,
    database: str | None = None,
) -> AuthorizationServer:
    """An authorization server with a fresh database in ``workdir``, its issuer ``http://{host}:{port}``.

    In demo mode the demo MCP server's resource is ``demo_resource``, by default
    ``http://localhost:{mcp_port}/mcp``. Its signing keys are sealed with a key of the workdir's own,
    kept in a file there so that a restart opens them, unless ``env`` names one
    (``AS_KEY_ENCRYPTION_KEY``, empty for demo mode's own key beside the database).
    ``in_process`` serves it on a thread of this process (:class:`InProcessProgram`). ``database``, a
    ``postgresql://`` URL, replaces the SQLite file in ``workdir`` (issue 13).
    """
    port = port or free_port()
    db: Path | str = database or workdir / "authorization_server.sqlite3"
    env = {"AS_KEY_ENCRYPTION_KEY": local_key(workdir / "key_encryption_key"), **(env or {})}
    args = ["-m", "authorization_server", "--port", str(port), "--db", str(db), "--issuer", f"http://{host}:{port}"]
    args += options
    if demo:
        args += ["--demo", "--demo-resource", demo_resource or f"http://localhost:{mcp_port or 8000}/mcp"]
    log = workdir / "authorization_server.log"
    program: Program | InProcessProgram
    if in_process:
        program = InProcessProgram(args[2:], log, env)
    else:
        program = Program(args, log, f"http://127.0.0.1:{port}/jwks.json", env)
    return AuthorizationServer(program.start(), port, db, host, env)


def _db(database: str) -> Path | str:
    """``--db`` kept as given: a PostgreSQL URL stays a string (``Path`` would fold its ``//``)."""
    return database if "://" in database else Path(database)


def start_instances(
    workdir: Path, database: str, *options: str, count: int = 2, env: dict[str, str] | None = None
) -> list[AuthorizationServer]:
    """``count`` authorization servers, each a process of its own on a loopback port, serving one issuer (the
    first one's URL) from one database: ``database``, a SQLite path (or whatever ``--db`` accepts).

    They share the key that seals the signing keys, as every instance must (docs/deployment.md). The
    first starts alone and brings the schema up to date; the others follow. Their ``url`` is each one's
    own port; their issuer, the first one's.
    """
    ports = [free_port() for _ in range(count)]
    issuer = f"http://localhost:{ports[0]}"
    env = {"AS_KEY_ENCRYPTION_KEY": local_key(workdir / "key_encryption_key"), **(env or {})}
    servers = []
    try:
        for number, port in enumerate(ports):
            args = ["-m", "authorization_server", "--port", str(port), "--db", database, "--issuer", issuer, *options]
            log = workdir / f"authorization_server_{number}.log"
            program = Program(args, log, f"http://127.0.0.1:{port}/health/alive", env).start()
            servers.append(AuthorizationServer(program, port, _db(database), "localhost", env))
    except BaseException:
        for server in servers:
            server.program.stop()
        raise
    return servers


@dataclass
class McpServer:
    """A running reference MCP server and the issuer whose tokens it accepts."""

    program: Program
    port: int
    issuer: str

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}/mcp"


def start_mcp_server(
    workdir: Path, port: int, issuer: str, *options: str, env: dict[str, str] | None = None
) -> McpServer:
    args = ["-m", "mcp_server", "--port", str(port), "--auth-server", issuer, *options]
    ready = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource"
    return McpServer(Program(args, workdir / "mcp_server.log", ready, env or {}).start(), port, issuer)


#: The environment variable of our authorization server that holds its client secret at the provider.
PROVIDER_SECRET_ENV = "PROFILE_PROVIDER_CLIENT_SECRET"
#: The name of the demo MCP server's connection to the provider.
PROFILE_CONNECTION = "profile"


@dataclass
class DownstreamProvider:
    """A third-party OAuth provider (a second authorization server of ours, in demo mode, at 127.0.0.1)
    and the API it protects (``scripts/profile_api.py``), with our server pre-registered as its client."""

    authorization_server: AuthorizationServer
    api: Program
    api_url: str
    client_id: str
    client_secret: str

    @property
    def issuer(self) -> str:
        return self.authorization_server.issuer_for("demo")

    def stop(self) -> None:
        self.api.stop()
        self.authorization_server.program.stop()


def start_downstream_provider(
    workdir: Path,
    *,
    callback_url: str,
    port: int | None = None,
    api_port: int | None = None,
    user: tuple[str, str] | None = None,
) -> DownstreamProvider:
    """The provider and its API; ``callback_url`` is our server's redirect URI, registered there exactly.

    In demo mode it approves by itself; given a ``user`` (name, password) it runs without demo
    mode instead, with that user, who signs in and consents on its pages.
    """
    api_port = api_port or free_port()
    api_url = f"http://localhost:{api_port}/profile"
    workdir.mkdir(parents=True, exist_ok=True)
    provider = start_authorization_server(
        workdir, port=port, demo=user is None, demo_resource=api_url, host="127.0.0.1"
    )
    try:
        if user is not None:
            provider.cli("mcp-servers", "add", "--id", "demo", "--resource", api_url, "--scopes", "mcp:read")
            provider.cli("users", "add", user[0], input=user[1] + "\n")
        printed = provider.cli(
            "clients",
            "add",
            "--mcp-server",
            "demo",
            "--name",
            "MCP authorization server",
            "--redirect-uri",
            callback_url,
            "--issuer",
            provider.url,
        ).stdout
        fields = dict(line.split() for line in printed.splitlines()[1:])
        api_args = ["-m", "scripts.profile_api", "--port", str(api_port), "--issuer", provider.issuer_for("demo")]
        api = Program(api_args, workdir / "profile_api.log", f"http://127.0.0.1:{api_port}/profile").start()
    except BaseException:
        provider.program.stop()
        raise
    return DownstreamProvider(provider, api, api_url, fields["client_id"], fields["client_secret"])


def connect_downstream(
    server: AuthorizationServer,
    provider: DownstreamProvider,
    mcp_server_id: str = "demo",
    name: str = PROFILE_CONNECTION,
) -> str:
    """Give an MCP server the connection to the provider with ``connections add``; the connection's id.

    ``server`` must run with the provider's client secret in :data:`PROVIDER_SECRET_ENV`.
    """
    printed = server.cli(
        "connections", "add", "--mcp-server", mcp_server_id, "--name", name,
        "--issuer", provider.issuer, "--client-id", provider.client_id, "--client-secret-env", PROVIDER_SECRET_ENV,
        "--scopes", "mcp:read", "--resource", provider.api_url,
    ).stdout  # fmt: skip
    return printed.split()[3]


def run_cli(
    args: Sequence[str], *, input: str | None = None, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{args} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


_cli_lock = threading.Lock()


def run_cli_in_process(
    args: Sequence[str], *, input: str | None = None, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """:func:`run_cli` of ``-m authorization_server ...`` without a new interpreter (about 0.7 s of CPU each).

    ``main(argv)`` runs on a thread of its own (it runs its own event loop) with this input, output and
    environment; its exit status is the ``SystemExit`` it raises, 1 for an exception (whose traceback is
    its error output), as the interpreter would say.
    """
    assert list(args[:2]) == ["-m", "authorization_server"], args
    stdout, stderr = io.StringIO(), io.StringIO()
    returncode = 0

    def run() -> None:
        nonlocal returncode
        try:
            cli_main(list(args[2:]))
        except SystemExit as exc:
            returncode = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                stderr.write(exc.code + "\n")
        except BaseException:
            returncode = 1
            stderr.write(traceback.format_exc())

    with (
        _cli_lock,
        unittest.mock.patch.dict(os.environ, env or {}),
        unittest.mock.patch("sys.stdin", io.StringIO(input or "")),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        thread = threading.Thread(target=run, name="authorization_server command line")
        thread.start()
        thread.join()
    result = subprocess.CompletedProcess(list(args), returncode, stdout.getvalue(), stderr.getvalue())
    if check and result.returncode != 0:
        raise RuntimeError(f"{args} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result
