"""PostgreSQL for the tests (issue 13): a throwaway cluster, a database per server, direct reads.

``pytest --engine postgresql`` runs the authorization servers of ``demo_as`` and ``fresh_as`` on
PostgreSQL: the session starts a throwaway cluster (scripts/postgres.py), unless
``TEST_DATABASE_URL`` names a server to use, migrates a template database once, and gives each
server a database of its own copied from it (``CREATE DATABASE ... TEMPLATE``, a few
milliseconds). :func:`pg_rows` and :func:`pg_execute` read and change a server's database as
``flows.rows`` does a SQLite file, with ``?`` placeholders and rows read by name or position.
"""

import asyncio
import contextlib
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from mcp_authz.authorization_server.db import PoolOptions
from mcp_authz.authorization_server.db_postgresql import PostgresDatabase, to_postgresql

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

    def empty(self) -> str:
        """The URL of a new database without any table (no migration applied)."""
        name = f"{self._prefix}_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return with_database(self._url, name)

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

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        url = self.new()
        try:
            yield url
        finally:
            self.drop(url)


class TcpProxy:
    """A loopback TCP relay to a server, that can be cut (every connection closed, new ones refused) and restored.

    The outage test puts it between the authorization server and PostgreSQL: a real network failure,
    seen by the driver as a lost and then a refused connection.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self.port = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Close the listener and every relayed connection: the server is unreachable until :meth:`restore`."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_RDWR)
