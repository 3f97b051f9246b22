"""The downstream authorization flows of a journey (issue 4): after consent, this server asks the
provider of each of the MCP server's connections in turn, as its OAuth client, and only then sends
the MCP client its code.

::

    user's browser        authorization server                         downstream provider
      | consent (Allow) -->| journey: downstream_authorization
      |<-- 303 provider's authorize?client_id&state&code_challenge(S256)&redirect_uri&resource
      | ----------------------------------------------------------------> sign-in, consent
      |<-- 303 /downstream/callback?code&state&iss ---------------------- |
      | ------------------>| state: known, unexpired, unused, this browser
      |                    | POST token endpoint: code, code_verifier ---> tokens (sealed at rest)
      |<-- 303 next provider, or the MCP client's redirect URI with code, state, iss

One Downstream Authorization Flow per connection, each stamped on the journey when it starts,
completes or fails. A denial at the provider ends the journey as ``denied`` and sends the MCP
client ``access_denied`` (OAuth 2.1 §4.1.2.1, with ``state`` and ``iss``); any other failure ends
it as ``failed`` with ``server_error``. An answer that names no known ``state`` is shown as an
error page: it cannot be tied to a client to send it back to (MCP security best practices,
confused deputy: the state is single-use, bound to the journey and checked exactly). So is an
answer whose ``iss`` is not the provider's, or that has none when the provider's metadata promises
it (RFC 9207 §2.4, mix-up attacks): that one ends the journey as ``failed``, the reason stamped.
"""

from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.errors import AccessDenied, InvalidRequest, OAuthError, ServerError
from mcp_authz.authorization_server.flow.downstream.providers import ProviderEndpoints, ProviderError, Providers
from mcp_authz.authorization_server.journeys.entities import (
    DownstreamAuthorizationFlow,
    DownstreamCallback,
    DownstreamFlowStatus,
    Journey,
)
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.mcp_servers.entities import McpConnection
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.secrets_at_rest import new_secret
from mcp_authz.authorization_server.web.params import Params
from mcp_authz.authorization_server.web.redirects import ToClient, ToProvider, code_to_client, error_to_client
from mcp_authz.shared.pkce import new_verifier


class DownstreamAuthorization:
    def __init__(
        self,
        db: Database,
        *,
        journeys: JourneyService,
        mcp_servers: McpServerService,
        providers: Providers,
        callback_url: str,
    ) -> None:
        self._db = db
        self._journeys = journeys
        self._mcp_servers = mcp_servers
        self._providers = providers
        #: This server's redirect URI at every provider, registered there exactly (OAuth 2.1 §2.3.1).
        self._callback_url = callback_url

    async def proceed(self, journey_id: str) -> ToProvider | ToClient:
        """The next provider to ask, or, when every connection's flow completed, the MCP client's code."""

        async def still_pending(tx: Transaction) -> tuple[Journey, list[McpConnection]]:
            history = await self._journeys.history(tx, journey_id)
            assert history is not None, journey_id
            journey = history.journey
            completed = {
                f.mcp_connection_id for f in history.downstream_flows if f.status is DownstreamFlowStatus.COMPLETED
            }
            connections = await self._mcp_servers.connections(tx, journey.mcp_flow.mcp_server_id)
            return journey, [c for c in connections if c.id not in completed]

        journey, pending = await self._db.run(still_pending)
        if not pending:

            async def issue_code(tx: Transaction) -> ToClient:
                current = await self._journeys.get(tx, journey_id)
                return code_to_client(current, await self._journeys.issue_code(tx, current))

            return await self._db.run(issue_code)
        connection = pending[0]
        if not self._journeys.can_seal:
            return await self._end(journey, None, "downstream_token_key is not set: downstream tokens cannot be kept")
        try:
            endpoints = await self._providers.endpoints(connection)
        except ProviderError as exc:
            return await self._end(journey, None, f"{connection.name}: {exc}")
        state, verifier = new_secret(), new_verifier()
        await self._db.run(
            lambda tx: self._journeys.start_downstream_flow(
                tx, journey.id, connection.id, state=state, code_verifier=verifier, redirect_uri=self._callback_url
            )
        )
        return ToProvider(
            self._providers.authorization_url(
                connection, endpoints, state=state, verifier=verifier, redirect_uri=self._callback_url
            )
        )

    async def callback(self, params: Params, browser_secret: str | None) -> ToProvider | ToClient:
        """The provider's authorization response (OAuth 2.1 §4.1.2) at ``/downstream/callback``.

        Raises ``InvalidRequest`` (an error page) when the answer cannot be tied to a journey
        waiting for it in this browser.
        """
        state, error, code, returned_issuer = (params.get(name) for name in ("state", "error", "code", "iss"))
        if state is None:
            raise InvalidRequest("This answer from the provider has no state: it cannot be matched to a sign-in.")

        async def taken(tx: Transaction) -> tuple[DownstreamCallback, McpConnection | None]:
            found = await self._journeys.take_downstream_callback(tx, state, browser_secret)
            return found, await self._mcp_servers.connection(tx, found.flow.mcp_connection_id)

        found, connection = await self._db.run(taken)
        flow, journey = found.flow, found.journey
        assert connection is not None, flow.mcp_connection_id  # a connection's flows are deleted with it
        if not found.same_browser:
            await self._end(journey, flow, "the provider's answer came to another browser")
            raise InvalidRequest("This answer from the provider belongs to a sign-in started in another browser.")
        if found.expired:
            return await self._end(journey, flow, f"{connection.name} answered too late")
        try:
            endpoints = await self._providers.endpoints(connection)
        except ProviderError as exc:
            return await self._end(journey, flow, f"{connection.name}: {exc}")
        refusal = _issuer_refusal(endpoints, returned_issuer)
        if refusal is not None:
            await self._end(journey, flow, f"{connection.name}: {refusal} (RFC 9207 §2.4)")
            raise InvalidRequest(
                f"This answer does not show that it comes from {connection.name}, where you were sent:"
                " the sign-in was stopped (RFC 9207). Start again from the application."
            )
        if error is not None:
            denied = error == "access_denied"
            return await self._end(journey, flow, f"{connection.name} answered {error}", denied=denied)
        try:
            if code is None:
                raise ProviderError("the answer has neither code nor error")
            tokens = await self._providers.redeem(
                connection, endpoints, code=code, verifier=found.code_verifier, redirect_uri=found.redirect_uri
            )
        except ProviderError as exc:
            return await self._end(journey, flow, f"{connection.name}: {exc}")
        await self._db.run(lambda tx: self._journeys.complete_downstream_flow(tx, flow, tokens, connection.name))
        return await self.proceed(journey.id)

    async def _end(
        self, journey: Journey, flow: DownstreamAuthorizationFlow | None, reason: str, *, denied: bool = False
    ) -> ToClient:
        """End the journey, and its flow if one started; send the MCP client the error (OAuth 2.1 §4.1.2.1)."""
        if flow is None:
            await self._db.run(lambda tx: self._journeys.fail(tx, journey, reason))
        else:
            await self._db.run(lambda tx: self._journeys.fail_downstream_flow(tx, flow, reason, denied=denied))
        assert journey.request is not None
        error: OAuthError = (
            AccessDenied("the user denied access at a downstream provider")
            if denied
            else ServerError("the authorization at a downstream provider failed")
        )
        return error_to_client(journey.request.redirect_uri, journey.request.state, journey.issuer, error)


def _issuer_refusal(endpoints: ProviderEndpoints, returned_issuer: str | None) -> str | None:
    """Why the answer's ``iss`` is refused, or ``None`` (RFC 9207 §2.4), checked before an error answer is believed.

    An answer naming another issuer is refused, and so is one without ``iss`` from a provider whose
    metadata says it sends one (``authorization_response_iss_parameter_supported``, §3): either may
    come from another server (a mix-up attack). A provider known only by its endpoints has no issuer
    to compare with, and one that does not promise ``iss`` may leave it out.
    """
    if endpoints.issuer is None:
        return None
    if returned_issuer is None:
        return (
            "the answer has no iss, though the provider's metadata says it sends one" if endpoints.sends_iss else None
        )
    if returned_issuer != endpoints.issuer:
        return f"the answer names another issuer, {returned_issuer!r}"
    return None
