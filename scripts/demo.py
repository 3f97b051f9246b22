"""``make demo`` (``python -m scripts.demo``): the whole MCP authorization tutorial, end to end, unattended.

Starts, each with a fresh state under ``var/demo/``: a third-party OAuth provider (a second
authorization server of ours, in demo mode, on 127.0.0.1:9100, with ours pre-registered as its
confidential client) and the profile API it protects (:8100); the authorization server in demo
mode on :9000, whose demo MCP server gets a connection to that provider; and the MCP server on
:8000, which may exchange tokens (RFC 8693). Then runs the client through every step with
``--headless`` and ``--call downstream_profile``: after consent the authorization server runs
the downstream authorization at the provider, and the tool reaches the profile API with the
user's token there. Prints the records the authorization server kept, and stops everything,
also on failure or Ctrl-C.
"""

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from scripts.stack import (
    PROVIDER_SECRET_ENV,
    ROOT,
    connect_downstream,
    start_authorization_server,
    start_downstream_provider,
    start_mcp_server,
)

AS_PORT = 9000
MCP_PORT = 8000
PROVIDER_PORT = 9100
API_PORT = 8100
WORKDIR = ROOT / "var" / "demo"


def main() -> int:
    busy = [port for port in (AS_PORT, MCP_PORT, PROVIDER_PORT, API_PORT) if _in_use(port)]
    if busy:
        print(f"demo: port {busy[0]} is already in use; stop what runs there and try again", file=sys.stderr)
        return 1
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    running = []
    try:
        _banner(
            f"Starting a third-party OAuth provider (another authorization server, demo mode):"
            f" http://127.0.0.1:{PROVIDER_PORT}, and the profile API it protects: http://localhost:{API_PORT}/profile"
        )
        provider = start_downstream_provider(
            WORKDIR / "provider",
            callback_url=f"http://localhost:{AS_PORT}/downstream/callback",
            port=PROVIDER_PORT,
            api_port=API_PORT,
        )
        running += [provider.authorization_server.program, provider.api]
        print(f"   provider issuer {provider.issuer}; our server is its confidential client {provider.client_id}")
        print(
            "   (registered with: python -m authorization_server clients add --mcp-server demo --redirect-uri"
            f" http://localhost:{AS_PORT}/downstream/callback ...; the secret goes to ${PROVIDER_SECRET_ENV})"
        )

        _banner(f"Starting the authorization server in demo mode: http://localhost:{AS_PORT}")
        authorization_server = start_authorization_server(
            WORKDIR, port=AS_PORT, mcp_port=MCP_PORT, env={PROVIDER_SECRET_ENV: provider.client_secret}
        )
        running.append(authorization_server.program)
        issuer = authorization_server.issuer_for("demo")
        print(f"   issuer of the demo MCP server: {issuer}   (log: {_relative(authorization_server.program.log_path)})")
        connect_downstream(authorization_server, provider)
        print(authorization_server.cli("connections", "list").stdout)
        secret = _mcp_server_secret(authorization_server.cli("mcp-servers", "credentials", "demo").stdout)

        _banner(f"Starting the MCP server: http://localhost:{MCP_PORT}/mcp, trusting {issuer}")
        mcp_server = start_mcp_server(
            WORKDIR, MCP_PORT, issuer, "--downstream-api", provider.api_url, env={"MCP_CLIENT_SECRET": secret}
        )
        running.append(mcp_server.program)
        print(f"   downstream_profile tool: token exchange (RFC 8693) at {issuer}/token, then GET {provider.api_url}")
        print(f"   (log: {_relative(mcp_server.program.log_path)})")

        _banner(
            "Running the client through every step: python client.py --server-url ... --headless"
            " --call downstream_profile\n    (watch step 4: after consent, the browser visits the provider"
            " and comes back to /downstream/callback before the code is issued)"
        )
        client = [sys.executable, "client.py", "--server-url", mcp_server.url, "--headless"]
        client += ["--call", "downstream_profile"]
        status = subprocess.call([*client, "--store", str(WORKDIR / "client-store.json")], cwd=ROOT)

        _banner("The records the authorization server kept (python -m authorization_server ... list)")
        print(authorization_server.cli("mcp-servers", "list").stdout)
        print(authorization_server.cli("journeys", "list", "--steps").stdout)
        if status != 0:
            print(f"demo: the client failed with exit code {status}; see the logs under {_relative(WORKDIR)}")
        return status
    except KeyboardInterrupt:
        print("\ndemo: interrupted")
        return 130
    except RuntimeError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for program in reversed(running):
            program.stop()


def _mcp_server_secret(printed: str) -> str:
    """The secret ``mcp-servers credentials ID`` printed: the MCP server's credentials for token exchange."""
    [secret] = [line.split()[1] for line in printed.splitlines() if line.split()[:1] == ["client_secret"]]
    return secret


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _banner(text: str) -> None:
    print(f"\n=== {text}\n", flush=True)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
