"""The uvicorn settings of our two servers (``authorization_server/cli.py``, ``mcp_server/__main__.py``),
for the benchmarks' peers: one worker on loopback, uvicorn's access log off."""

import uvicorn
from starlette.types import ASGIApp


def serve(app: ASGIApp, port: int) -> None:
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info", access_log=False)
