"""``GET /health``: the MCP server answers HTTP (issue 17), for liveness and readiness probes alike.

Always 200 ``{"status": "ok"}``, never cached, no token needed. It does not ask the authorization
server: the JWKS is cached and fetched when a token needs it, so this server can answer while the
issuer is briefly away, and a probe that followed the issuer would take every MCP server out of a
load balancer at once whenever the issuer restarts (docs/decisions/0033).
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

HEALTH_PATH = "/health"


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
