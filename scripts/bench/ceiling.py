"""The ceiling of the stack: a bare Starlette JSON endpoint under our uvicorn settings.

::

    python -m scripts.bench.ceiling --port 9200      GET / answers {"ok": true}
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from scripts.bench.serving import arguments, serve


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def main() -> None:
    args = arguments("python -m scripts.bench.ceiling").parse_args()
    serve(Starlette(routes=[Route("/", ok)]), args.port, args.http_stack)


if __name__ == "__main__":
    main()
