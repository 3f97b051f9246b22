"""``users add NAME``: user accounts."""

import argparse
import getpass
import sys

from authorization_server.cli.shared import Actions, action, group, repeat_settings, services
from authorization_server.settings import Settings


def add_commands(commands: Actions) -> None:
    users = group(commands, "users", help="manage user accounts")
    add = action(users, "add", help="add a user; asks for the password (or reads it from stdin)", run=add_user)
    add.add_argument("name")
    repeat_settings(users, "db")


async def add_user(settings: Settings, args: argparse.Namespace) -> None:
    password = _read_password()
    async with services(settings) as (db, found):
        new = await found.accounts.new_user(args.name, password)
        user = await db.run(lambda tx: found.accounts.add_user(tx, new))
    print(f"added user {user.username} ({user.id})")


def _read_password() -> str:
    """Ask twice on a terminal; read one line when the password is piped in."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise ValueError("the passwords differ")
    return password
