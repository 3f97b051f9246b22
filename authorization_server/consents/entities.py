"""A remembered consent."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Consent:
    """What ``user_id`` approved for one client at one MCP server (MCP-SBP Confused Deputy, per-client consent)."""

    user_id: str
    client_id: str
    mcp_server_id: str
    issuer: str
    scope: tuple[str, ...]
    approved_at: datetime
    last_used_at: datetime | None

    def covers(self, scope: tuple[str, ...]) -> bool:
        """Whether every scope asked for was approved already: a new scope asks again (AS-24)."""
        return set(scope) <= set(self.scope)
