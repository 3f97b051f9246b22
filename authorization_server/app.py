"""The authorization server application: routes in flow order, middleware, and the lifespan.

Only wiring lives here.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_authz.authorization_server.account import endpoint as account
from mcp_authz.authorization_server.admin.endpoints import clients as admin_clients
from mcp_authz.authorization_server.admin.endpoints import identity_providers as admin_identity_providers
from mcp_authz.authorization_server.admin.endpoints import journeys as admin_journeys
from mcp_authz.authorization_server.admin.endpoints import keys as admin_keys
from mcp_authz.authorization_server.admin.endpoints import mcp_servers as admin_mcp_servers
from mcp_authz.authorization_server.admin.endpoints import sign_in as admin_sign_in
from mcp_authz.authorization_server.admin.endpoints import users as admin_users
from mcp_authz.authorization_server.admin.endpoints import workload_issuers as admin_workload_issuers
from mcp_authz.authorization_server.db import shown
from mcp_authz.authorization_server.engines import open_database
from mcp_authz.authorization_server.errors import InvalidRequest, NotFound, OAuthError, RequestTimeout, ServerError
from mcp_authz.authorization_server.flow.authorization import consent, federated_login, login
from mcp_authz.authorization_server.flow.authorization import endpoint as authorize
from mcp_authz.authorization_server.flow.discovery import endpoint as discovery
from mcp_authz.authorization_server.flow.downstream import endpoint as downstream
from mcp_authz.authorization_server.flow.introspection import endpoint as introspect
from mcp_authz.authorization_server.flow.registration import configuration_endpoint as client_configuration
from mcp_authz.authorization_server.flow.registration import endpoint as register
from mcp_authz.authorization_server.flow.revocation import endpoint as revoke
from mcp_authz.authorization_server.flow.token import endpoint as token
from mcp_authz.authorization_server.health import endpoint as health
from mcp_authz.authorization_server.metrics import Metrics, MetricsListener
from mcp_authz.authorization_server.routes import (
    ADMIN_CLIENT_PATH,
    ADMIN_CLIENTS_PATH,
    ADMIN_IDENTITY_PROVIDERS_PATH,
    ADMIN_JOURNEY_PATH,
    ADMIN_JOURNEYS_PATH,
    ADMIN_KEYS_PATH,
    ADMIN_MCP_SERVER_PATH,
    ADMIN_MCP_SERVERS_PATH,
    ADMIN_PATH,
    ADMIN_SIGN_IN_PATH,
    ADMIN_SIGN_OUT_PATH,
    ADMIN_USER_PATH,
    ADMIN_USERS_PATH,
    ADMIN_WORKLOAD_ISSUERS_PATH,
    AUTHORIZE_PATH,
    CALLBACK_PATH,
    CLIENT_CONFIGURATION_PATH,
    CONSENT_PATH,
    FEDERATED_CALLBACK_PATH,
    FEDERATED_START_PATH,
    GENERIC_REGISTER_PATH,
    HEALTH_ALIVE_PATH,
    HEALTH_READY_PATH,
    HOME_PATH,
    INTROSPECT_PATH,
    JWKS_PATH,
    LOGIN_PATH,
    MCP_ISSUER_PATH,
    MCP_REGISTER_PATH,
    METADATA_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    SIGN_OUT_PATH,
    STATIC_PATH,
    TOKEN_PATH,
)
from mcp_authz.authorization_server.services import build_services
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.authorization_server.web.cors import cors, response_headers
from mcp_authz.authorization_server.web.pages import error_page
from mcp_authz.authorization_server.web.routing import IndexedRouter, Route
from mcp_authz.shared.json_log import ACCESS

log = logging.getLogger("authorization_server")

#: The access-log status of a request whose client went away before it was answered (nginx's 499).
CLIENT_CLOSED_REQUEST = 499
GET, POST = ("GET",), ("POST",)
#: Probes ask every few seconds: their answers go to the access log at debug level while they are fine,
#: a failing one at info like any request (docs/decisions/0033).
QUIET_WHEN_OK = frozenset({HEALTH_ALIVE_PATH, HEALTH_READY_PATH})


def create_app(settings: Settings) -> Starlette:
    metrics = Metrics()  # this application's counters, apart from any other in the process (metrics.py)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        db = await open_database(settings.db, settings.pool_options)
        listener: MetricsListener | None = None
        try:
            services = await build_services(settings, db, metrics)
            if settings.metrics_port:  # a listener of its own, never the public port (docs/decisions/0038)
                listener = metrics.serve(settings.metrics_host, settings.metrics_port)
                log.info("metrics: http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
            if settings.demo:
                log.warning(DEMO_BANNER)
            cleanup = asyncio.create_task(services.maintenance.run_every(settings.client_cleanup_interval))
            log.info("authorization server ready: database %s", shown(settings.db))
            # uvicorn names the address it listens on (127.0.0.1); the cookies belong to the issuer's host.
            log.info("authorization server: issuer %s (open %s/ in a browser)", settings.issuer, settings.issuer)
            try:
                yield {"services": services}
            finally:
                cleanup.cancel()
                with suppress(asyncio.CancelledError):
                    await cleanup
        finally:
            if listener is not None:
                listener.stop()
            await db.close()

    mcp = MCP_ISSUER_PATH  # each MCP server's issuer: /mcp/{mcp_server_id}
    # cors(...) marks the routes browser clients may call from any origin (cors.py); the rest are Route(...).
    routes = [
        # 1. Discovery (RFC 8414 §3, RFC 7517): the root issuer, then each MCP server's issuer,
        #    path-inserted (§3.1) and, for clients that append, under the issuer path.
        cors(METADATA_PATH, discovery.metadata, GET),
        cors(METADATA_PATH + mcp, discovery.metadata, GET),
        cors(mcp + METADATA_PATH, discovery.metadata, GET),
        cors(JWKS_PATH, discovery.jwks, GET),
        # 2. Dynamic client registration (RFC 7591 §3), generic and for one MCP server (seed 000).
        cors(REGISTER_PATH, register.register, POST),
        cors(GENERIC_REGISTER_PATH, register.register, POST),
        cors(MCP_REGISTER_PATH, register.register, POST),
        #    Client management (RFC 7592 §2): read, replace, delete with the registration access token.
        cors(CLIENT_CONFIGURATION_PATH, client_configuration.client_configuration, ("GET", "PUT", "DELETE")),
        # 3. Authorization request (OAuth 2.1 §4.1.1). Never CORS here nor on the pages (RFC 9700 §2.6).
        Route(AUTHORIZE_PATH, authorize.authorize, methods=["GET"]),
        Route(mcp + AUTHORIZE_PATH, authorize.authorize, methods=["GET"]),
        # 4. Sign-in, then consent (§3.1), then back to the client with the code (§4.1.2).
        Route(LOGIN_PATH, login.login, methods=["GET", "POST"]),
        Route(CONSENT_PATH, consent.consent, methods=["GET", "POST"]),
        Route(FEDERATED_START_PATH, federated_login.start, methods=["POST"]),
        Route(FEDERATED_CALLBACK_PATH, federated_login.callback, methods=["GET"]),
        # 4b. After consent, each downstream provider of the MCP server's connections (issue 4) answers here.
        Route(CALLBACK_PATH, downstream.callback, methods=["GET"]),
        # 5. Token endpoint: code for tokens (§4.1.3), refresh (§4.3).
        cors(TOKEN_PATH, token.token, POST),
        cors(mcp + TOKEN_PATH, token.token, POST),
        # 6. Revocation (RFC 7009): the client ends its grant.
        cors(REVOKE_PATH, revoke.revoke, POST),
        cors(mcp + REVOKE_PATH, revoke.revoke, POST),
        # 7. Introspection (RFC 7662): an MCP server asks whether a token still stands (server to server: no CORS).
        Route(INTROSPECT_PATH, introspect.introspect, methods=["POST"]),
        Route(mcp + INTROSPECT_PATH, introspect.introspect, methods=["POST"]),
        # 8. The operator's console (issues 4, 17): its sign-in, the clients, the journeys (each as a sequence
        #    diagram). Its session or HTTP Basic; 404 when off (docs/decisions/0014, 0041).
        Route(ADMIN_PATH, admin_sign_in.home, methods=["GET"]),
        Route(ADMIN_SIGN_IN_PATH, admin_sign_in.sign_in, methods=["GET", "POST"]),
        Route(ADMIN_SIGN_OUT_PATH, admin_sign_in.sign_out, methods=["POST"]),
        Route(ADMIN_CLIENTS_PATH, admin_clients.clients, methods=["GET", "POST"]),
        Route(ADMIN_CLIENT_PATH, admin_clients.client, methods=["GET", "POST"]),
        Route(ADMIN_MCP_SERVERS_PATH, admin_mcp_servers.mcp_servers, methods=["GET", "POST"]),
        Route(ADMIN_MCP_SERVER_PATH, admin_mcp_servers.mcp_server, methods=["GET", "POST"]),
        Route(ADMIN_USERS_PATH, admin_users.users, methods=["GET", "POST"]),
        Route(ADMIN_USER_PATH, admin_users.user, methods=["GET", "POST"]),
        Route(ADMIN_KEYS_PATH, admin_keys.keys, methods=["GET", "POST"]),
        Route(ADMIN_IDENTITY_PROVIDERS_PATH, admin_identity_providers.identity_providers, methods=["GET", "POST"]),
        Route(ADMIN_WORKLOAD_ISSUERS_PATH, admin_workload_issuers.workload_issuers, methods=["GET", "POST"]),
        Route(ADMIN_JOURNEYS_PATH, admin_journeys.journeys, methods=["GET"]),
        Route(ADMIN_JOURNEY_PATH, admin_journeys.journey, methods=["GET"]),
        # 9. The person's pages (pages: no CORS): the home page, the connected apps (what they approved,
        #    and revoking it), signing out (issue 17).
        Route(HOME_PATH, account.home, methods=["GET"]),
        Route(account.PATH, account.apps, methods=["GET", "POST"]),
        Route(account.REVOKE_PATH, account.confirm_revoke, methods=["GET"]),
        Route(SIGN_OUT_PATH, account.sign_out, methods=["POST"]),
        # 10. The operator's probes (issue 17): JSON, no CORS, no rate limit; quiet in the access log when fine.
        Route(HEALTH_ALIVE_PATH, health.alive, methods=["GET"]),
        Route(HEALTH_READY_PATH, health.ready, methods=["GET"]),
        Mount(STATIC_PATH, StaticFiles(packages=[(__name__.rpartition(".")[0], "static")])),
    ]
    app = Starlette(
        middleware=[Middleware(Edge, body_timeout=settings.body_timeout, metrics=metrics)],
        exception_handlers={OAuthError: _oauth_error, HTTPException: _http_error, Exception: _server_error},
    )
    # The routes, found by their first path segment rather than tried in turn (web/routing.py).
    app.router = IndexedRouter(routes, lifespan=lifespan)
    return app


DEMO_BANNER = """
************************************************************************************
*  DEMO MODE: every authorization request is approved as user 'demo' without a    *
*  sign-in or consent page. It only runs on loopback. Never use it for real users. *
*  Admin console: /admin, user 'admin', password 'demo-admin-pages' unless         *
*  you set --admin-username and --admin-password.                                  *
************************************************************************************"""


async def _oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    log.info("%s %s -> %s%s", request.method, _route(request), exc, f" ({exc.detail})" if exc.detail else "")
    return exc.to_response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: OAuthError = NotFound("no such endpoint")
    else:
        error = InvalidRequest(exc.detail)
    response = error.to_response(dict(exc.headers or {}))
    response.status_code = exc.status_code
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error in %s %s", request.method, _route(request))
    error = ServerError("the server failed to answer this request")
    path = request.url.path
    page_route = path == HOME_PATH or path.startswith(("/interaction/", "/account/", CALLBACK_PATH, ADMIN_PATH))
    if page_route or path.endswith(AUTHORIZE_PATH):
        return error_page(error)
    return error.to_response()


def _route(request: Request) -> str:
    """The matched route's path template: never the query, which may carry codes or state."""
    route = request.scope.get("route")
    return getattr(route, "path", "?")


class Edge:
    """The one middleware layer of our own every request passes (a layer costs a call and a closure per request).

    It writes the access-log line: one per request, with method, route template, status and
    milliseconds, never the query string; a health probe's line is at debug level unless it failed.
    It counts the request in the metrics by the same template and status (``metrics.py``).
    And it adds the CORS headers of the routes that have them (``web/cors.py``), which is why a CORS
    route needs no middleware of its own.

    A client that closes its connection before its body has all arrived (starlette's
    ``ClientDisconnect``, raised wherever the body is read, ``params.read_body`` for every
    endpoint) ends the request here, quietly: there is nobody to answer, so no 500 and no
    traceback, only the access-log line with status 499 (issue 11, item 8).

    And it bounds how long a body may take (issue 11, item 13, docs/decisions/0029): from the
    endpoint's first read, the whole body must arrive within ``body_timeout`` seconds, else the
    read raises ``RequestTimeout``, which the endpoint answers as any error (408, JSON or a page)
    with ``Connection: close``. Only the body's reads are timed: a request without a body, or a
    read after the body (waiting for a disconnect) is passed through as it is.
    """

    def __init__(self, app: ASGIApp, body_timeout: float, metrics: Metrics | None = None) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                cors_headers = response_headers(scope)
                if cors_headers:
                    message["headers"] = [*message.get("headers", ()), *cors_headers]
            await send(message)

        deadline: float | None = None
        body_complete = False

        async def receive_in_time() -> Message:
            nonlocal deadline, body_complete
            if body_complete:
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.body_timeout
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(f"the request body did not arrive within {self.body_timeout:g} s") from None
            body_complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        try:
            await self.app(scope, receive_in_time, send_and_note)
        except ClientDisconnect:
            status = CLIENT_CLOSED_REQUEST
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "(no route)")
            method = scope["method"]
            if self.metrics is not None:
                self.metrics.request(method, route, status, seconds)
            level = logging.DEBUG if route in QUIET_WHEN_OK and status < 400 else logging.INFO
            if log.isEnabledFor(level):
                ms = round(seconds * 1000, 1)
                # ``access``: the same fields apart, for --log-format json (shared/json_log.py)
                fields = {ACCESS: (method, route, status, ms)}
                log.log(level, "%s %s %d %.1f ms", method, route, status, ms, extra=fields)
