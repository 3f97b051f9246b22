"""The journeys page's use case (issue 17): its filters, a username looked up in ``accounts/``."""

from dataclasses import replace

from mcp_authz.authorization_server.accounts.service import AccountService
from mcp_authz.authorization_server.admin.timelines import Timeline, Timelines
from mcp_authz.authorization_server.db import Database
from mcp_authz.authorization_server.journeys.entities import JourneySearch


class JourneyConsole:
    """The journeys page's filters (issue 17): a username named by the operator is looked up in ``accounts/``."""

    def __init__(self, db: Database, *, accounts: AccountService, timelines: Timelines) -> None:
        self._db = db
        self._accounts = accounts
        self._timelines = timelines

    async def search(self, wanted: JourneySearch, username: str | None) -> list[Timeline]:
        """The page of journeys ``wanted`` names, of the user ``username`` if given (none if no such user)."""
        if username:
            stored = await self._db.run(lambda tx: self._accounts.stored_password(tx, username))
            if stored is None:
                return []
            wanted = replace(wanted, user_id=stored.user.id)
        return await self._timelines.search(wanted)
