"""The ceiling of the stack: a bare Starlette JSON endpoint under our uvicorn settings.

::

    python -m scripts.bench.ceiling --port 9200      GET / answers {"ok": true}
"""

import argparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from scripts.bench.serving import serve


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.ceiling")
    parser.add_argument("--port", type=int, required=True)
    serve(Starlette(routes=[Route("/", ok)]), parser.parse_args().port)


if __name__ == "__main__":
    main()
