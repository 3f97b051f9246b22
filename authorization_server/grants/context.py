"""What a grant may use."""

from dataclasses import dataclass

from authorization_server.clients.service import ClientService
from authorization_server.issuers import IssuerService
from authorization_server.journeys.service import JourneyService
from authorization_server.tokens.service import TokenService


@dataclass(frozen=True)
class GrantContext:
    issuers: IssuerService
    clients: ClientService
    journeys: JourneyService
    tokens: TokenService
