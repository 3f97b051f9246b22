"""Forgetting the shared counters and sessions that no longer say anything (issue 13).

The login lockout's records, the per-client token buckets and the console's sessions live in the
database so that every instance shares them (docs/decisions/0046-several-instances.md). A record of
a key that is neither locked nor failed for a day, a bucket untouched for its limit's whole period
(it is full again, as a missing one is), a session past its expiry: each is the same as no row, and
is deleted here, in the maintenance round. So is the sealed successor pair of a refresh token whose
grace window is over (docs/decisions/0018), which a refresh wipes only in its own family.
"""

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from mcp_authz.authorization_server.accounts import lockout
from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.clients.service import ClientService
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.maintenance.batches import in_batches
from mcp_authz.authorization_server.settings import Rate
from mcp_authz.authorization_server.tokens.service import TokenService


@dataclass(frozen=True)
class Forgotten:
    sign_in_records: int
    token_buckets: int
    admin_sessions: int
    grace_successors: int


class SharedStateUpkeep:
    def __init__(
        self,
        db: Database,
        *,
        accounts: AccountService,
        clients: ClientService,
        tokens: TokenService,
        token_client: Rate,
    ) -> None:
        self._db = db
        self._tokens = tokens
        self._accounts = accounts
        self._clients = clients
        self._token_client = token_client

    async def cleanup(self) -> Forgotten:
        """Each delete in batches of its own units (``batches.py``): a busy day may leave many rows of each."""
        seconds = self._token_client.seconds

        def buckets(tx: Transaction, batch: int) -> Coroutine[Any, Any, int]:
            return self._clients.forget_full_buckets(tx, "token_client", seconds, batch)

        return Forgotten(
            sign_in_records=await in_batches(self._db, lockout.forget_quiet),
            token_buckets=await in_batches(self._db, buckets),
            admin_sessions=await in_batches(self._db, self._accounts.end_expired_admin_sessions),
            grace_successors=await in_batches(self._db, self._tokens.forget_ended_successors),
        )
