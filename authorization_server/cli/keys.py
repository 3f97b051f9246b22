"""``keys rotate | list``: the keys that sign access tokens, published as a JWK Set (RFC 7517)."""

import argparse

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.cli.shared import Actions, action, database, group, repeat_settings
from mcp_authz.authorization_server.services import signing_key_sealer
from mcp_authz.authorization_server.settings import Settings
from mcp_authz.authorization_server.tokens import keys


def add_commands(commands: Actions) -> None:
    key_actions = group(commands, "keys", help="manage the keys that sign access tokens")
    action(
        key_actions,
        "rotate",
        help="add a new signing key (--signing-alg), published at once and signing after twice"
        " --cache-check-interval; old keys stay published until they retire",
        run=rotate_keys,
    )
    action(key_actions, "list", help="the signing keys, and until when each is published", run=list_keys)
    repeat_settings(key_actions, "db", "signing_alg", "access_token_ttl", "key_encryption_key", "cache_check_interval")


async def rotate_keys(settings: Settings, args: argparse.Namespace) -> None:
    """Add a new signing key, sealed (and any left in clear). Every running instance publishes it within
    ``--cache-check-interval``; it signs from twice that after now (issue 13)."""
    sealer = signing_key_sealer(settings)
    async with database(settings) as db:
        key = await db.run(lambda tx: keys.add(tx, settings.signing_alg, sealer, settings.key_activation_delay))
    keep_for = settings.key_lifetime_after_rotation
    print(
        f"new signing key {key.kid} ({key.alg}) is published; it signs from {key.signs_from:%Y-%m-%d %H:%M:%S} UTC"
        f" and the previous one stays published for {keep_for} after that"
    )


async def check_keys_open(settings: Settings) -> None:
    """Before the server listens: ``ValueError`` (one line) if the stored signing keys do not open with its key."""
    sealer = signing_key_sealer(settings)
    path = settings.sqlite_path
    if path is None or path.exists():  # a new SQLite file gets its first key, sealed, when the server starts
        async with database(settings) as db:
            await db.run(lambda tx: keys.all_keys(tx, settings.key_lifetime_after_rotation, sealer))


async def list_keys(settings: Settings, args: argparse.Namespace) -> None:
    sealer = signing_key_sealer(settings)
    async with database(settings) as db:
        stored = await db.run(
            lambda tx: keys.all_keys(tx, settings.key_lifetime_after_rotation, sealer, settings.key_activation_delay)
        )
    now = clock.now()
    for key in stored:
        print(f"{key.kid}  {key.alg}  created {key.created_at:%Y-%m-%d %H:%M:%S} UTC  {key.state(now)}")
