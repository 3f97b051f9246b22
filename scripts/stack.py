"""Starting the project's servers as real processes, for the demo and for the tests.

Each program runs as ``python -m <package>`` on a loopback port and is ready when it answers
HTTP. One that does not come up in time is stopped, and the error carries its log.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from authorization_server.encryption import local_key

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
#: The abuse controls (docs/decisions/0011) would refuse a load from one address within a second.
UNLIMITED_RATES = {
    "AS_RATE_LIMIT_AUTHORIZE": "1000000000/s",
    "AS_RATE_LIMIT_REGISTER": "1000000000/s",
    "AS_RATE_LIMIT_TOKEN_CLIENT": "1000000000/s",
    "AS_RATE_LIMIT_TOKEN_IP": "1000000000/s",
    "AS_RATE_LIMIT_FETCH": "1000000000/s",
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class AuthorizationServer:
    """A running authorization server, its database, and its command line."""

    program: Program
    port: int
    db: Path
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
        """Run ``python -m authorization_server ARGS --db <this server's db>``."""
        return run_cli(
            ["-m", "authorization_server", *args, "--db", str(self.db)], input=input, check=check, env=self.env
        )


def start_authorization_server(
    workdir: Path,
    *options: str,
    demo: bool = True,
    mcp_port: int | None = None,
    port: int | None = None,
    demo_resource: str | None = None,
    host: str = "localhost",
    env: dict[str, str] | None = None,
) -> AuthorizationServer:
    """An authorization server with a fresh database in ``workdir``, its issuer ``http://{host}:{port}``.

    In demo mode the demo MCP server's resource is ``demo_resource``, by default
    ``http://localhost:{mcp_port}/mcp``. Its signing keys are sealed with a key of the workdir's own,
    kept in a file there so that a restart opens them, unless ``env`` names one
    (``AS_KEY_ENCRYPTION_KEY``, empty for demo mode's own key beside the database).
    """
    port = port or free_port()
    db = workdir / "authorization_server.sqlite3"
    env = {"AS_KEY_ENCRYPTION_KEY": local_key(workdir / "key_encryption_key"), **(env or {})}
    args = ["-m", "authorization_server", "--port", str(port), "--db", str(db), "--issuer", f"http://{host}:{port}"]
    args += options
    if demo:
        args += ["--demo", "--demo-resource", demo_resource or f"http://localhost:{mcp_port or 8000}/mcp"]
    program = Program(args, workdir / "authorization_server.log", f"http://127.0.0.1:{port}/jwks.json", env)
    return AuthorizationServer(program.start(), port, db, host, env)


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
