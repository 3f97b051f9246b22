"""Run the server: what ``python -m authorization_server`` does without a command."""

import logging

import uvicorn

from authorization_server.app import create_app
from authorization_server.settings import Settings


def serve(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A line per request: leave out of each record what the format never prints, as the logging
    # HOWTO's "Optimization" section says (the caller's frame, thread and process names).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # uvicorn's access log prints query strings, which can carry state and challenges: ours does not.
    # Forwarded headers are believed from the trusted proxies only, and from nobody without them
    # (uvicorn would otherwise trust 127.0.0.1): docs/decisions/0019.
    proxies = ",".join(str(network) for network in settings.proxy_networks)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )
