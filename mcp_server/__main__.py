"""``python -m mcp_server``, or ``mcp-demo-server`` once installed: see ``settings.py`` for the options."""

import logging

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from mcp_authz.mcp_server.app import create_app
from mcp_authz.mcp_server.settings import load
from mcp_authz.shared.http_deadlines import with_header_deadline
from mcp_authz.shared.json_log import formatter

log = logging.getLogger("mcp_server")


def main() -> None:
    settings = load()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(settings.log_format, "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    # uvicorn names the address it listens on (127.0.0.1); clients use the resource URL (issue 17).
    log.info("MCP server: resource %s (its authorization server: %s)", settings.resource, settings.auth_server)
    # uvicorn's access log would print query strings; tokens travel only in headers, but stay strict.
    # Slow clients (docs/decisions/0029): a deadline for headers (uvicorn has none), for bodies
    # (bearer_auth.py), and a bound on connections and requests at once.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        http=with_header_deadline(settings.header_timeout),
        # asyncio whatever is installed (uvicorn's default "auto" takes uvloop when it is): docs/decisions/0052.
        loop="asyncio",
        limit_concurrency=settings.limit_concurrency,
        ws="none",
        # --log-format json: uvicorn's own records go through the root handler too, as JSON lines.
        log_config=None if settings.log_format == "json" else LOGGING_CONFIG,
    )


if __name__ == "__main__":  # not when the console script imports main
    main()
