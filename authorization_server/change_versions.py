"""A version per cached kind, so that every instance on one database follows its writes (issue 13).

Each write to a cached kind (the MCP servers, the signing keys) bumps its row of
``change_versions`` in the same unit of work (the services call :func:`bump`); a cache reads its
kind's version with one cheap ``SELECT`` (:func:`read`) at most every ``--cache-check-interval``
seconds, and loads again only when it moved. The command line writes through the same services,
so its writes bump the versions too. It works alike on every engine, which SQLite's
``PRAGMA data_version`` did not (docs/decisions/0046-several-instances.md).
"""

from mcp_authz.authorization_server.db import Transaction

MCP_SERVERS = "mcp_servers"
SIGNING_KEYS = "signing_keys"


async def bump(tx: Transaction, kind: str) -> None:
    """Note, inside the unit that writes, that ``kind`` changed: every instance loads it again."""
    await tx.execute("UPDATE change_versions SET version = version + 1 WHERE kind = ?", (kind,))


async def read(tx: Transaction, kind: str) -> int:
    """The version of ``kind`` as committed."""
    row = await tx.fetch_one("SELECT version FROM change_versions WHERE kind = ?", (kind,))
    return int(row[0]) if row else 0
