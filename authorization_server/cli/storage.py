"""``db upgrade | copy``: the database itself, without serving (issue 13; docs/deployment.md).

``db upgrade`` applies the migrations the database lacks (as the server does when it starts,
under PostgreSQL's advisory lock) and says where it stands; ``db copy --from URL --to URL`` copies
every table of one database into a new, empty one, e.g. a SQLite deployment into PostgreSQL.
"""

import argparse

from mcp_authz.authorization_server.cli.shared import Actions, action, database, group, repeat_settings
from mcp_authz.authorization_server.db import applied_versions, shown
from mcp_authz.authorization_server.engines import copy_database, open_database
from mcp_authz.authorization_server.settings import Settings


def add_commands(commands: Actions) -> None:
    db_actions = group(commands, "db", help="apply the migrations, or copy a database into another")
    action(db_actions, "upgrade", help="apply the migrations the database (--db) lacks, then stop", run=upgrade)
    copy = action(
        db_actions,
        "copy",
        help="copy every table of one database into a new, empty one (e.g. SQLite into PostgreSQL)",
        run=copy_tables,
    )
    copy.add_argument(
        "--from", dest="source", required=True, metavar="DB", help="a path, sqlite:///PATH or postgresql://"
    )
    copy.add_argument("--to", dest="target", required=True, metavar="DB", help="the same; it must hold no rows")
    repeat_settings(db_actions, "db", "db_pool_size", "db_statement_cache", "db_timeout")


async def upgrade(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as db:
        versions = await db.run(applied_versions)
    print(f"database {shown(settings.db)} is at migration {max(versions, default=0):04d}")


async def copy_tables(settings: Settings, args: argparse.Namespace) -> None:
    """Open (migrating) both databases, then copy; the target is written in one transaction or not at all."""
    source = await open_database(args.source, settings.pool_options)
    try:
        target = await open_database(args.target, settings.pool_options)
        try:
            copied = await copy_database(source, target)
        finally:
            await target.close()
    finally:
        await source.close()
    for table, count in copied.items():
        print(f"{table}: {count} rows")
    print(f"copied {sum(copied.values())} rows from {shown(args.source)} to {shown(args.target)}")
