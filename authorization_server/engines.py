"""Which engine ``--db`` names, opened: SQLite (``db.py``) or PostgreSQL (``db_postgresql.py``), issue 13.

Apart from both so that neither imports the other: the server and the command line open their
database here, and get a ``db.Database`` whichever it is.
"""

from pathlib import Path

from authorization_server.db import Database, PoolOptions, SqliteDatabase, parse_target
from authorization_server.db_postgresql import PostgresDatabase


async def open_database(target: str | Path, options: PoolOptions | None = None) -> Database:
    """Open the database ``target`` names (:func:`parse_target`) and bring its schema up to date."""
    if isinstance(target, Path):
        return await SqliteDatabase.open(target)
    engine, address = parse_target(target)
    if engine == "postgresql":
        return await PostgresDatabase.connect(address, options or PoolOptions())
    return await SqliteDatabase.open(Path(address))
