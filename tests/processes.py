"""The project's servers, started for real by the tests (the code lives in scripts/stack.py)."""

from scripts.stack import (
    ROOT,
    AuthorizationServer,
    McpServer,
    Program,
    free_port,
    run_cli,
    start_authorization_server,
    start_mcp_server,
)

__all__ = [
    "ROOT",
    "AuthorizationServer",
    "McpServer",
    "Program",
    "free_port",
    "run_cli",
    "start_authorization_server",
    "start_mcp_server",
]
