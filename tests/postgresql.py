"""PostgreSQL for the tests (issue 13): a throwaway cluster, a database per server, direct reads.

``pytest --engine postgresql`` runs the authorization servers of ``demo_as`` and ``fresh_as`` on
PostgreSQL: the session starts a throwaway cluster (scripts/postgres.py), unless
``TEST_DATABASE_URL`` names a server to use, migrates a template database once, and gives each
server a database of its own copied from it (``CREATE DATABASE ... TEMPLATE``, a few
milliseconds). :func:`pg_rows` and :func:`pg_execute` read and change a server's database as
``flows.rows`` does a SQLite file, with ``?`` placeholders and rows read by name or position.
"""

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from authorization_server.db import PoolOptions
from authorization_server.db_postgresql import PostgresDatabase, to_postgresql

T = TypeVar("T")


def in_a_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on an event loop of its own, on a thread: the tests may be inside a loop already."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", asyncio.run(make())))  # type: ignore[arg-type]
        except BaseException as error:  # handed to the caller
            outcome.append(("error", error))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value  # type: ignore[no-any-return]


def with_database(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead of its own."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def pg_rows(url: str, sql: str, *params: object) -> list[asyncpg.Record]:
    async def fetch() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url)
        try:
            return list(await connection.fetch(to_postgresql(sql), *params))
        finally:
            await connection.close()

    return in_a_thread(fetch)


def pg_execute(url: str, sql: str, *params: object) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(to_postgresql(sql), *params)
        finally:
            await connection.close()

    in_a_thread(run)


class Databases:
    """Makes empty, migrated databases on one PostgreSQL server, and drops them again."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._prefix = f"as_test_{uuid.uuid4().hex[:8]}"
        self.template = f"{self._prefix}_template"
        self._admin(f'CREATE DATABASE "{self.template}"')

        async def migrate() -> None:
            database = await PostgresDatabase.connect(with_database(url, self.template), PoolOptions(size=1))
            await database.close()

        in_a_thread(migrate)

    def _admin(self, *statements: str) -> None:
        async def run() -> None:
            connection = await asyncpg.connect(self._url)
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

        in_a_thread(run)

    def new(self) -> str:
        """The URL of a new database with every migration applied and no rows."""
        name = f"{self._prefix}_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return with_database(self._url, name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')

    @contextmanager
    def database(self) -> Iterator[str]:
        url = self.new()
        try:
            yield url
        finally:
            self.drop(url)
