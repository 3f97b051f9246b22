"""What the command groups share: a command's type, the database it works on, and how a group declares its actions."""

import argparse
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from mcp_authz.authorization_server import settings as settings_module
from mcp_authz.authorization_server.clients.assertions import parse_jwks
from mcp_authz.authorization_server.db import Database, Transaction
from mcp_authz.authorization_server.engines import open_database
from mcp_authz.authorization_server.services import Operations, command_line_services
from mcp_authz.authorization_server.settings import Settings

T = TypeVar("T")

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, None]]
"""One action of a group, run by ``main()`` with the settings and the parsed options."""

# A string: argparse's class takes no type argument at run time.
Actions: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""The actions of the program or of a group, as ``add_subparsers()`` returns them."""


def group(commands: Actions, name: str, help: str) -> Actions:
    """A command group (``users``, ``keys``, ...): its actions are added to what this returns."""
    return commands.add_parser(name, help=help).add_subparsers(metavar="ACTION", required=True)


def action(actions: Actions, name: str, help: str, run: Command) -> argparse.ArgumentParser:
    """An action of a group, which runs ``run``; its own options are added to what this returns."""
    parser = actions.add_parser(name, help=help)
    parser.set_defaults(run=run)
    return parser


def repeat_settings(actions: Actions, *names: str) -> None:
    """Let every action of a group take these settings' options too, e.g. ``users add NAME --db PATH``."""
    for choice in actions.choices.values():
        settings_module.add_arguments(choice, *names, default=argparse.SUPPRESS)


def provider_client(parser: argparse.ArgumentParser) -> None:
    """``--client-id`` and ``--client-secret-env``: the client this server is at an outside provider, its secret
    left in the server's environment (``connections add``, ``identity-providers add``)."""
    parser.add_argument("--client-id", required=True, help="the client this server is at the provider")
    parser.add_argument(
        "--client-secret-env",
        help="name of the environment variable of the server that holds the client secret (the secret is not stored)",
    )


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The database of ``settings``, migrated, and closed after the command, also on failure."""
    db = await open_database(settings.db, settings.pool_options)
    try:
        yield db
    finally:
        await db.close()


@asynccontextmanager
async def services(settings: Settings) -> AsyncIterator[tuple[Database, Operations]]:
    """The database and the server's service graph on it (``services.command_line_services``)."""
    async with database(settings) as db:
        yield db, command_line_services(settings, db)


async def operate(settings: Settings, work: Callable[[Operations], Awaitable[T]]) -> T:
    """Run ``work`` on the service graph over the database of ``settings``; the database is closed after it."""
    async with services(settings) as (_, found):
        return await work(found)


async def in_unit(settings: Settings, work: Callable[[Operations, Transaction], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` as one unit of work (``Database.run``) on the service graph over the database of ``settings``."""
    async with services(settings) as (db, found):
        return await db.run(lambda tx: work(found, tx))


def read_jwks_file(option: str, path: Path | None) -> dict[str, Any] | None:
    """The public JWK Set in the file an option names (``--jwks-file``), checked; ``None`` without one."""
    if path is None:
        return None
    try:
        return parse_jwks(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{option} {path}: {exc}") from None
