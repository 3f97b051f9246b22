"""The uvicorn settings of our two servers (``authorization_server/cli/serve.py``, ``mcp_server/__main__.py``),
for the benchmarks' peers: one worker on loopback, uvicorn's access log off, and the same event loop
and HTTP parser as ours: asyncio and h11 by default, uvloop and httptools with ``--http-stack uvloop``
(docs/decisions/0052), never uvicorn's "auto", which would change with what is installed."""

import argparse

import uvicorn
from starlette.types import ASGIApp

#: ``--http-stack``: uvicorn's ``loop`` and ``http`` for each, as the authorization server's setting of that name.
STACKS = {"asyncio": ("asyncio", "h11"), "uvloop": ("uvloop", "httptools")}


def arguments(prog: str) -> argparse.ArgumentParser:
    """``--port`` and ``--http-stack``, the options every peer takes."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http-stack", choices=tuple(STACKS), default="asyncio", help="event loop and parser")
    return parser


def serve(app: ASGIApp, port: int, stack: str = "asyncio") -> None:
    loop, http = STACKS[stack]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info", access_log=False, loop=loop, http=http)
