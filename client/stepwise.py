"""``--step STEP``: one step of the tutorial, alone, with what the next step needs kept in the store.

=========  ===================================  =============================================
step       runs after                           leaves in the store
=========  ===================================  =============================================
discover   nothing                              the resource, its issuer, the scope to ask for
metadata   discover                             the authorization server's metadata
register   metadata                             the registration for the issuer
authorize  register                             the code, with its PKCE verifier, state,
                                                issuer, resource and redirect URI (CL-20)
token      authorize                            the tokens
call       token (nothing, on a server that     nothing new
           asks for no authorization)
refresh    token                                the rotated tokens
revoke     token                                no tokens
=========  ===================================  =============================================

With ``--grant client_credentials`` there is no code: ``authorize`` only says so, and ``token``
asks for a token with the client's own credentials, right after ``register``.

A step whose inputs are missing stops with one line naming the step to run first
(:class:`StepOrderError`, exit code 10). A full run stores steps 1 and 2 too, so ``call``,
``refresh`` and ``revoke`` work after it.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from mcp_authz.client import progress
from mcp_authz.client.callback import UserAgentFactory
from mcp_authz.client.errors import StepOrderError, TokenError
from mcp_authz.client.flow import Flow, Options
from mcp_authz.client.store import Store, unusable
from mcp_authz.client.tokens import CLIENT_CREDENTIALS, NO_BROWSER_GRANTS, Tokens
from mcp_authz.client.tutorial import Tutorial
from mcp_authz.client.wire import http_client
from mcp_authz.shared.metadata import AuthorizationServerMetadata

STEPS = ("discover", "metadata", "register", "authorize", "token", "call", "refresh", "revoke")
#: Not a step: ``python client.py logout`` (:meth:`Flow.logout`).
LOGOUT = "logout"
#: How long the authorization server's codes live in demo mode, in seconds.
DEMO_CODE_LIFETIME = 60
T = TypeVar("T")


async def run(options: Options, tutorial: Tutorial, user_agent: UserAgentFactory, step: str | None = None) -> None:
    """One run against ``options.server_url``: ``step`` alone, steps 1 to 7, or :data:`LOGOUT`.

    A :class:`ClientError` if it fails.
    """
    store = Store.load(options.store)
    async with http_client(tutorial, bodies=True) as http:
        flow = Flow(options, tutorial, http, store, user_agent)
        if step is None:
            await flow.run()
        elif step == LOGOUT:
            tutorial.heading(f"Log out of {options.server_url}: revoke its tokens, forget them")
            tutorial.heading(f"(store: {store.path})")
            await flow.logout()
        else:
            tutorial.heading(f"MCP authorization, step {step} alone, for {options.server_url}")
            tutorial.heading(f"(store: {store.path})")
            await run_step(flow, step)


async def run_step(flow: Flow, step: str) -> None:
    """Run ``step`` alone, after restoring what the steps before it stored."""
    if step == "discover":
        if not await flow.discover():
            flow.tutorial.result("no later step applies to it: run without --step to list and call its tools")
        return
    # nothing is stored for a server that asks for no authorization (MCP Authorization §1): ask it now
    nothing_stored = flow.store.progress(flow.options.server_url, "discover") is None
    if step == "call" and nothing_stored and not await flow.discover():
        await flow.call_without_authorization()
        return
    _restore_discovery(flow)
    if step == "metadata":
        await flow.fetch_metadata()
        return
    _restore_metadata(flow)
    if step == "register":
        flow.registration = flow.with_dpop_key(await flow.register())
        return
    registration = flow.store.registration(flow.issuer)
    if registration is None:
        raise StepOrderError(f"no registration is stored for {flow.issuer}: run --step register first")
    flow.registration = registration
    if flow.options.grant in NO_BROWSER_GRANTS and step in ("authorize", "token"):
        if step == "authorize":
            flow.no_approval()
        elif flow.options.grant == CLIENT_CREDENTIALS:
            await flow.machine_token(registration)
        else:
            await flow.assertion_token(registration)
        return
    if step == "authorize":
        pending, code = await flow.approval(registration)
        flow.store.save_progress(flow.options.server_url, "authorize", progress.authorized(pending, code))
        return
    if step == "token":
        await _redeem(flow)
        return
    held = _stored_tokens(flow)
    if step == "call":
        await flow.call(held)
    elif step == "refresh":
        await flow.refresh(held)
    else:
        await flow.revoke(held)


async def _redeem(flow: Flow) -> None:
    """Step 5 alone: the stored code, used once whatever the outcome (OAuth 2.1 §4.1.2)."""
    fields = _progress(flow, "authorize", "no authorization code is stored: run --step authorize first")
    pending, code, age = _read(flow, progress.read_authorized, fields)
    flow.store.forget_progress(flow.options.server_url, "authorize")
    if pending.client_id != flow.registration.client_id:
        raise StepOrderError("the stored code was issued to another registration: run --step authorize first")
    try:
        await flow.exchange(flow.registration, pending, code)
    except TokenError as exc:
        if age <= DEMO_CODE_LIFETIME:
            raise
        raise TokenError(
            f"{exc} (the code is {age} s old, and the demo authorization server's codes live "
            f"{DEMO_CODE_LIFETIME} s: run --step authorize again, then --step token at once)"
        ) from None


def _restore_discovery(flow: Flow) -> None:
    fields = _progress(
        flow, "discover", f"nothing is discovered for {flow.options.server_url}: run --step discover first"
    )
    discovered = _read(flow, progress.read_discovered, fields)
    flow.resource, flow.issuer, flow.scope, flow.scope_reason, flow.legacy = discovered


def _restore_metadata(flow: Flow) -> None:
    fields = _progress(flow, "metadata", f"no metadata is stored for {flow.issuer}: run --step metadata first")
    flow.metadata = _read(flow, AuthorizationServerMetadata.from_json, fields)


def _stored_tokens(flow: Flow) -> Tokens:
    held = flow.store.tokens(flow.resource, flow.issuer)
    if held is None or held.client_id != flow.registration.client_id:
        raise StepOrderError(f"no tokens are stored for {flow.resource}: run --step token first")
    return held


def _progress(flow: Flow, step: str, missing: str) -> dict[str, Any]:
    fields = flow.store.progress(flow.options.server_url, step)
    if fields is None:
        raise StepOrderError(missing)
    return fields


def _read(flow: Flow, reader: Callable[[dict[str, Any]], T], fields: dict[str, Any]) -> T:
    try:
        return reader(fields)
    except ValueError as exc:
        raise unusable(flow.store.path, exc) from None
