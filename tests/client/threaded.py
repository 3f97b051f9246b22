"""An ASGI app served by uvicorn on a free loopback port, from a thread of the test process."""

import threading
import time

import uvicorn
from starlette.types import ASGIApp

from scripts.stack import free_port

START_TIMEOUT = 10


class ThreadedServer:
    def __init__(self, app: ASGIApp, *, port: int | None = None, lifespan: str = "off") -> None:
        self.port = port or free_port()
        self._server = uvicorn.Server(
            # asyncio as the servers run, though the dev extras install uvloop (docs/decisions/0052).
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="error", lifespan=lifespan, ws="none", loop="asyncio"
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT)
