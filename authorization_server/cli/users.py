"""``users add | list | remove | disable | enable | reset-password``: user accounts (issue 17)."""

import argparse
import getpass
import sys

from mcp_authz.authorization_server.accounts.entities import User
from mcp_authz.authorization_server.cli.shared import Actions, action, group, operate, repeat_settings, services
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.identity_providers.service import source_of
from mcp_authz.authorization_server.settings import Settings


def add_commands(commands: Actions) -> None:
    users = group(commands, "users", help="manage user accounts")
    add = action(users, "add", help="add a user; asks for the password (or reads it from stdin)", run=add_user)
    add.add_argument("name")
    action(
        users,
        "list",
        help="every user: name, id, source (local, or oidc:PROVIDER), enabled or disabled, created",
        run=list_users,
    )
    remove = action(
        users, "remove", help="delete a user: ends the grants they gave, their sessions and consents", run=remove_user
    )
    remove.add_argument("name")
    disable = action(users, "disable", help="refuse the user's sign-in and end their sessions", run=disable_user)
    disable.add_argument("name")
    enable = action(users, "enable", help="let a disabled user sign in again", run=enable_user)
    enable.add_argument("name")
    reset = action(
        users,
        "reset-password",
        help="set a new password (asks twice, or reads it from stdin); ends the user's sessions",
        run=reset_password,
    )
    reset.add_argument("name")
    repeat_settings(users, "db")


async def add_user(settings: Settings, args: argparse.Namespace) -> None:
    password = _read_password()
    async with services(settings) as (db, found):
        new = await found.accounts.new_user(args.name, password)
        user = await db.run(lambda tx: found.accounts.add_user(tx, new))
    print(f"added user {user.username} ({user.id})")


async def list_users(settings: Settings, args: argparse.Namespace) -> None:
    """One line per user: name, id, where the account comes from, enabled or disabled, created (UTC)."""

    async def listed(tx: Transaction) -> tuple[list[User], dict[str, str]]:
        return await found.accounts.all(tx), await found.identity_providers.sources(tx)

    async with services(settings) as (db, found):
        users, sources = await db.run(listed)
    if not users:
        print("no users yet: add one with `users add NAME`")
    for user in users:
        state = f"disabled {user.disabled_at:%Y-%m-%d %H:%M}" if user.disabled_at else "enabled"
        created = f"created {user.created_at:%Y-%m-%d %H:%M} UTC"
        print(f"{user.username}  {user.id}  {source_of(user.id, sources)}  {state}  {created}")


async def remove_user(settings: Settings, args: argparse.Namespace) -> None:
    ended = await operate(settings, lambda found: found.user_administration.remove(args.name))
    print(f"removed user {args.name}; ended {ended} grant(s), their sessions and consents")


async def disable_user(settings: Settings, args: argparse.Namespace) -> None:
    await operate(settings, lambda found: found.user_administration.disable(args.name))
    print(f"disabled user {args.name}: they cannot sign in, their sessions ended; the grants they gave stand")


async def enable_user(settings: Settings, args: argparse.Namespace) -> None:
    await operate(settings, lambda found: found.user_administration.enable(args.name))
    print(f"enabled user {args.name}")


async def reset_password(settings: Settings, args: argparse.Namespace) -> None:
    password = _read_password()
    async with services(settings) as (_, found):
        new = await found.accounts.new_password(password)
        await found.user_administration.reset_password(args.name, new)
    print(f"new password set for user {args.name}; their sessions ended")


def _read_password() -> str:
    """Ask twice on a terminal; read one line when the password is piped in."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise ValueError("the passwords differ")
    return password
