"""Forgetting the shared counters and sessions that no longer say anything (issue 13).

The login lockout's records, the per-client token buckets and the console's sessions live in the
database so that every instance shares them (docs/decisions/0046-several-instances.md). A record of
a key that is neither locked nor failed for a day, a bucket untouched for its limit's whole period
(it is full again, as a missing one is), a session past its expiry: each is the same as no row, and
is deleted here, in the maintenance round.
"""

from dataclasses import dataclass

from mcp_authz.authorization_server.accounts import lockout
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.settings import Rate


@dataclass(frozen=True)
class Forgotten:
    sign_in_records: int
    token_buckets: int
    admin_sessions: int


class SharedStateUpkeep:
    def __init__(self, db: Database, *, accounts: AccountService, clients: ClientService, token_client: Rate) -> None:
        self._db = db
        self._accounts = accounts
        self._clients = clients
        self._token_client = token_client

    async def cleanup(self) -> Forgotten:
        async def unit(tx: Transaction) -> Forgotten:
            return Forgotten(
                await lockout.forget_quiet(tx),
                await self._clients.forget_full_buckets(tx, "token_client", self._token_client.seconds),
                await self._accounts.end_expired_admin_sessions(tx),
            )

        return await self._db.run(unit)
