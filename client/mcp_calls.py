"""Steps 6 and 7: MCP calls with the access token, through the MCP SDK's streamable HTTP client.

Every HTTP request of the session carries ``Authorization: Bearer <token>``, never the query
string (CL-26): the header is set once on the ``httpx2`` client handed to the SDK, which adds
the MCP transport headers itself (CL-31).

The SDK reports a refused HTTP request as a JSON-RPC error without its status, so a response
hook keeps the last HTTP error: a 401 means the token is not accepted (:class:`TokenRejected`,
answered by the flow with a refresh, CL-29), a 403 that it lacks scope (RFC 6750 §3.1,
:class:`InsufficientScope`, answered by the flow with a step-up, CL-30).

A DPoP-bound token (RFC 9449 §7.1) is sent as ``Authorization: DPoP <token>`` with a fresh proof
per request (:class:`DpopAuth`: ``htm``, ``htu``, ``ath``); a 401 ``use_dpop_nonce`` is retried
once with the ``DPoP-Nonce`` it names, and the latest nonce the server sent goes into later proofs (§9).
"""

from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult, Implementation, TextContent

from mcp_authz.client.dpop import USE_NONCE, DpopKey
from mcp_authz.client.errors import ClientError, InsufficientScope, TokenRejected, ToolCallError, describe
from mcp_authz.client.tutorial import Tutorial
from mcp_authz.client.wire import http_client
from mcp_authz.shared.scopes import parse_scope
from mcp_authz.shared.www_authenticate import find_challenge

CLIENT_INFO = Implementation(name="mcp-authorization-tutorial-client", version="0.1.0")
READ_TIMEOUT = 30.0
MAX_TOOL_PAGES = 10


@asynccontextmanager
async def connected(
    server_url: str, access_token: str | None, tutorial: Tutorial, dpop: DpopKey | None = None
) -> AsyncIterator[Client]:
    """An MCP session whose every request carries the token (none for a server that asks for no
    authorization); failures become :class:`ClientError`.

    With ``dpop``, the token is DPoP-bound to that key and each request carries a proof (RFC 9449 §7.1).
    """
    refusal = _LastRefusal()
    if dpop is None or access_token is None:
        headers = {"Authorization": f"Bearer {access_token}"} if access_token is not None else {}
        http = http_client(tutorial, bodies=False, headers=headers)
    else:
        http = http_client(tutorial, bodies=False)
        http.auth = DpopAuth(access_token, dpop)
    http.event_hooks["response"].append(refusal.note)
    try:
        async with (
            http,
            Client(
                streamable_http_client(server_url, http_client=http),
                client_info=CLIENT_INFO,
                read_timeout_seconds=READ_TIMEOUT,
                cache=None,
                elicitation_callback=DefaultAnswers(tutorial),
            ) as client,
        ):
            yield client
    except Exception as exc:  # the SDK's task groups wrap whatever failed in exception groups
        failure = _first_leaf(exc)
        if isinstance(failure, ClientError):
            raise failure from None
        raise refusal.error(server_url, failure) from None


async def list_tools(client: Client) -> list[str]:
    """The names of the server's tools, every page of them (MCP ``tools/list``)."""
    names: list[str] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await client.list_tools(cursor=cursor)
        names += [tool.name for tool in page.tools]
        cursor = page.next_cursor
        if cursor is None:
            break
    return names


async def call_tool(client: Client, name: str, arguments: dict[str, Any] | None = None) -> Any:
    """Call a tool; its structured result, else its text (MCP ``tools/call``)."""
    result = await client.call_tool(name, arguments or {})
    text = "\n".join(item.text for item in result.content if isinstance(item, TextContent))
    if result.is_error:
        raise ToolCallError(f"the tool {name} failed: {text or 'no details'}")
    return result.structured_content if result.structured_content is not None else text


class DpopAuth(httpx2.Auth):
    """``Authorization: DPoP`` and a fresh proof on every request (RFC 9449 §7.1), one retry for a nonce (§9)."""

    def __init__(self, access_token: str, key: DpopKey) -> None:
        self._token = access_token
        self._key = key
        self._nonce: str | None = None

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        response = yield self._signed(request)
        asked = response.headers.get("dpop-nonce")
        if asked:
            retry = response.status_code == 401 and asked != self._nonce and _challenge_error(response) == USE_NONCE
            self._nonce = asked
            if retry:
                yield self._signed(request)

    def _signed(self, request: httpx2.Request) -> httpx2.Request:
        url = str(request.url)
        proof = self._key.proof(request.method, url, nonce=self._nonce, access_token=self._token)
        request.headers["Authorization"] = f"DPoP {self._token}"
        request.headers["DPoP"] = proof
        return request


def _challenge_error(response: httpx2.Response) -> str | None:
    dpop = find_challenge(response.headers.get("www-authenticate", ""), "dpop")
    return dpop.params.get("error") if dpop else None


class DefaultAnswers:
    """Elicitation requests answered with the defaults the server proposes (MCP Elicitation, SEP-1034).

    This client asks its user nothing after the browser step: a form whose every required field
    has a default is accepted with those defaults, any other request is declined. A URL-mode
    request is declined too: it would send the user to a page this client never opens.
    """

    def __init__(self, tutorial: Tutorial) -> None:
        self.tutorial = tutorial

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        if isinstance(params, ElicitRequestFormParams):
            schema = params.requested_schema
            properties: dict[str, Any] = schema.get("properties") or {}
            content = {name: field["default"] for name, field in properties.items() if "default" in field}
            if all(name in content for name in schema.get("required") or ()):
                self.tutorial.result(f"the server asks: {params.message!r}; answered with its defaults: {content}")
                return ElicitResult(action="accept", content=content)
        self.tutorial.result(f"the server asks: {params.message!r}; declined, there is no default to answer with")
        return ElicitResult(action="decline")


class _LastRefusal:
    """The last HTTP error the MCP server answered, which the SDK does not report."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.challenge: dict[str, str] = {}

    async def note(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.status = response.status_code
            header = response.headers.get("www-authenticate", "")
            challenge = find_challenge(header, "bearer") or find_challenge(header, "dpop")
            self.challenge = challenge.params if challenge else {}

    def error(self, server_url: str, failure: BaseException) -> ClientError:
        said = self.challenge.get("error_description") or self.challenge.get("error") or "no description"
        if self.status == 401:
            return TokenRejected(f"the MCP server does not accept the access token: {said}")
        if self.status == 403:
            scope = self.challenge.get("scope", "")
            try:
                needed = parse_scope(scope)
            except ValueError:
                needed = ()
            return InsufficientScope(
                f"the MCP server refused the call: insufficient_scope, it needs scope {scope or '(unnamed)'!r}", needed
            )
        if isinstance(failure, httpx2.TransportError):
            return ToolCallError(f"cannot reach the MCP server at {server_url}: {describe(failure)}")
        if self.status is not None:
            return ToolCallError(f"the MCP server answered HTTP {self.status}: {describe(failure)}")
        return ToolCallError(f"the MCP call failed: {describe(failure)}")


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
