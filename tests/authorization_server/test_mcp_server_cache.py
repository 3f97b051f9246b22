"""Issue 12, "one way of doing each thing": the MCP server cache is the one part of a domain module
that opens units itself, and only when it must (docs/conventions/entities.md)."""

from pathlib import Path
from typing import Any

import pytest

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Database, Unit
from mcp_authz.authorization_server.mcp_servers.cache import McpServerCache
from mcp_authz.authorization_server.mcp_servers.service import McpServerService

RESOURCE = "http://localhost:8000/mcp"


class CountingDatabase:
    """Counts the units the cache opens on the database it wraps."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.units = 0

    async def run(self, unit: Unit[Any]) -> Any:
        self.units += 1
        return await self.db.run(unit)


@pytest.mark.anyio
async def test_a_cache_read_opens_no_unit_when_nothing_changed(db: Database):
    """Issue 12: lookups answer from memory between checks: no unit, so no thread hop, per request."""
    counting = CountingDatabase(db)
    cache = McpServerCache(counting)  # type: ignore[arg-type]
    await db.run(lambda tx: McpServerService(cache).add(tx, server_id="one", resource=RESOURCE, scopes="a"))
    assert (await cache.get("one")) is not None
    opened = counting.units

    for _ in range(50):
        assert (await cache.get("one")) is not None
        assert (await cache.by_resource(RESOURCE)) is not None
        assert [server.id for server in await cache.all()] == ["one"]

    assert counting.units == opened


@pytest.mark.anyio
async def test_a_write_of_this_process_is_seen_at_the_next_read(db: Database):
    """Issue 12: the service's write tells this process's cache in its unit, without waiting for the next check
    of the version (issue 13)."""
    cache = McpServerCache(db)
    service = McpServerService(cache)
    assert await cache.all() == []

    await db.run(lambda tx: service.add(tx, server_id="two", resource=RESOURCE, scopes="a"))

    server = await cache.get("two")
    assert server is not None and server.resource == RESOURCE
    secret = await db.run(lambda tx: service.rotate_secret(tx, "two"))
    assert (await cache.authenticate("two", secret)).id == "two"


@pytest.mark.anyio
async def test_another_instances_write_is_seen_within_the_check_interval(db: Database, tmp_path: Path):
    """Issue 13: a write through another connection (another instance, the command line) bumps the version
    row; this cache serves what it loaded until its next check, and the change from then on."""
    other = await Database.open(tmp_path / "as.db")
    try:
        cache = McpServerCache(db, check_interval=0.5)
        theirs = McpServerService(McpServerCache(other))
        await other.run(lambda tx: theirs.add(tx, server_id="one", resource=RESOURCE, scopes="a", name="Before"))
        with clock.frozen():
            assert (await cache.get("one")) is not None  # a miss looks at once

            await other.run(lambda tx: theirs.update(tx, "one", name="After"))
            within = await cache.get("one")
            clock.advance(0.6)
            after = await cache.get("one")
    finally:
        await other.close()

    assert within is not None and within.name == "Before"
    assert after is not None and after.name == "After"
