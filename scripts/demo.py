"""``make demo`` (``python -m scripts.demo``): the whole MCP authorization tutorial, end to end, unattended.

Starts the authorization server in demo mode on :9000 and the MCP server on :8000, each with a
fresh state under ``var/demo/``; runs the client through every step with ``--headless``; prints
the records the authorization server kept; and stops both servers, also on failure or Ctrl-C.
"""

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from scripts.stack import ROOT, start_authorization_server, start_mcp_server

AS_PORT = 9000
MCP_PORT = 8000
WORKDIR = ROOT / "var" / "demo"


def main() -> int:
    busy = [port for port in (AS_PORT, MCP_PORT) if _in_use(port)]
    if busy:
        print(f"demo: port {busy[0]} is already in use; stop what runs there and try again", file=sys.stderr)
        return 1
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    running = []
    try:
        _banner(f"Starting the authorization server in demo mode: http://localhost:{AS_PORT}")
        authorization_server = start_authorization_server(WORKDIR, port=AS_PORT, mcp_port=MCP_PORT)
        running.append(authorization_server.program)
        issuer = authorization_server.issuer_for("demo")
        print(f"   issuer of the demo MCP server: {issuer}   (log: {_relative(authorization_server.program.log_path)})")

        _banner(f"Starting the MCP server: http://localhost:{MCP_PORT}/mcp, trusting {issuer}")
        mcp_server = start_mcp_server(WORKDIR, MCP_PORT, issuer)
        running.append(mcp_server.program)
        print(f"   (log: {_relative(mcp_server.program.log_path)})")

        _banner("Running the client through every step: python client.py --server-url ... --headless")
        client = [sys.executable, "client.py", "--server-url", mcp_server.url, "--headless"]
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


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _banner(text: str) -> None:
    print(f"\n=== {text}\n", flush=True)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
