"""What a grant may use."""

from dataclasses import dataclass
from typing import Protocol

from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.consents.service import ConsentService
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.flow.discovery.issuers import IssuerService
from mcp_authz.authorization_server.journeys.service import JourneyService
from mcp_authz.authorization_server.tokens.service import TokenService


@dataclass(frozen=True)
class GrantContext:
    issuers: IssuerService
    clients: ClientService
    #: Told when tokens are issued, for the connected apps page's "last used" (issue 17).
    consents: ConsentService
    journeys: JourneyService
    tokens: TokenService


class Admit(Protocol):
    """Called once the caller authenticated, before its grant runs: may refuse it (a rate limit, say).

    ``proven`` is false for a public client, which only named its ``client_id``. Runs inside the grant's
    unit of work (``tx``): a refusal raises, and the unit writes nothing.
    """

    async def __call__(self, tx: Transaction, client_id: str, *, proven: bool) -> None: ...
