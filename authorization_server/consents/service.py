"""Remembering consent, and forgetting it (MCP-SBP Confused Deputy: per-client consent).

A consent belongs to one user, one ``client_id`` and one MCP server; nothing is ever looked up
by client name or redirect URI, so a newly registered client never finds another's consent. It
also names the redirect URIs it was given for: a client ID metadata document's ``client_id`` is
shared by every installation, and a consent must not send codes somewhere the user never approved
(issue 11; docs/decisions/0012).
"""

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.consents import repository
from mcp_authz.authorization_server.consents.entities import Consent, redirect_key
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.journeys.entities import Journey


class ConsentService:
    async def remembered(self, tx: Transaction, journey: Journey) -> Consent | None:
        """The user's consent covering this journey's scopes and redirect URI; else ``None``."""
        assert journey.request is not None and journey.user_id is not None
        flow = journey.mcp_flow
        consent = await repository.get(tx, journey.user_id, flow.client_id, flow.mcp_server_id)
        if consent is None or not consent.covers(journey.request.scope, journey.request.redirect_uri):
            return None
        return consent

    async def approved_scopes(self, tx: Transaction, journey: Journey) -> tuple[str, ...] | None:
        """The scopes the user approved before for this journey's client and MCP server; ``None`` if none.

        The consent page tells them apart from the ones a step-up asks for now (issue 17).
        """
        if journey.user_id is None:  # not signed in yet: nobody approved anything
            return None
        flow = journey.mcp_flow
        consent = await repository.get(tx, journey.user_id, flow.client_id, flow.mcp_server_id)
        return consent.scope if consent is not None else None

    async def used(self, tx: Transaction, journey: Journey) -> None:
        """Tokens were issued for this journey (a code redeemed, a refresh): its consent's "last used" (issue 17)."""
        if journey.user_id is None:  # client_credentials: no user, no consent
            return
        flow = journey.mcp_flow
        await repository.mark_used(tx, journey.user_id, flow.client_id, flow.mcp_server_id, clock.now())

    async def remember(self, tx: Transaction, journey: Journey) -> None:
        """The user approved this journey's request on the consent page: remember its scopes and redirect URI."""
        assert journey.request is not None and journey.user_id is not None
        flow = journey.mcp_flow
        known = await repository.get(tx, journey.user_id, flow.client_id, flow.mcp_server_id)
        scope = journey.request.scope
        redirect_uris: tuple[str, ...] = (redirect_key(journey.request.redirect_uri),)
        if known is not None:
            scope = known.scope + tuple(name for name in scope if name not in known.scope)
            redirect_uris = known.redirect_uris + tuple(uri for uri in redirect_uris if uri not in known.redirect_uris)
        last_used_at = known.last_used_at if known else None
        consent = Consent(
            journey.user_id,
            flow.client_id,
            flow.mcp_server_id,
            journey.issuer,
            scope,
            clock.now(),
            last_used_at,
            redirect_uris,
        )
        await repository.put(tx, consent)

    async def forget(self, tx: Transaction, user_id: str, client_id: str, mcp_server_id: str) -> bool:
        """Forget a consent; false if there was none."""
        return await repository.delete(tx, user_id, client_id, mcp_server_id)

    async def of_user(self, tx: Transaction, user_id: str) -> list[Consent]:
        """The user's consents, the latest approval first."""
        return await repository.of_user(tx, user_id)
