"""Users: the resource owners who sign in and approve clients."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class User:
    id: str
    username: str
    created_at: datetime
