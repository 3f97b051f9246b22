"""``GET /health/alive`` and ``GET /health/ready``: JSON for probes (issue 17, docs/decisions/0033).

- alive: the process answers HTTP; always 200 ``{"status": "ok"}``, nothing else is asked.
  A failing liveness probe restarts the process, so it must not fail for what a restart cannot
  mend (a database on a lost disk).
- ready: 200 ``{"status": "ok"}`` when the database runs a unit of work and the signing keys are
  loaded, else 503 ``{"status": "unavailable", "database": "...", ...}`` naming what is wrong
  (``readiness.py``): a load balancer sends requests elsewhere meanwhile.

Never cached, no CORS (probes are not browsers), no rate limit; the access log writes a
successful probe at debug level only (``app.Edge``).
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_authz.authorization_server.services import services

NO_STORE = {"Cache-Control": "no-store"}
#: RFC 9110 §10.2.3: when to ask again after a 503.
RETRY_AFTER = "5"


async def alive(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def ready(request: Request) -> Response:
    problems = await services(request).readiness.problems()
    if problems:
        return JSONResponse({"status": "unavailable", **problems}, 503, {**NO_STORE, "Retry-After": RETRY_AFTER})
    return JSONResponse({"status": "ok"}, headers=NO_STORE)
