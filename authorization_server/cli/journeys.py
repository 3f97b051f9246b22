"""``journeys list | show | cleanup``: authorization journeys as timelines (issue 4), and their cleanup (issue 11)."""

import argparse
from datetime import datetime, timedelta

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server import settings as settings_module
from mcp_authz.authorization_server.admin.timelines import Timeline
from mcp_authz.authorization_server.cli.shared import Actions, action, group, repeat_settings, services
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.settings import Settings


def add_commands(commands: Actions) -> None:
    journeys = group(commands, "journeys", help="show authorization journeys")
    listing = action(
        journeys,
        "list",
        help="the latest journeys, one a line: id, state, client, MCP server, username, started (UTC), age",
        run=list_journeys,
    )
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--steps", action="store_true", help="each journey with its steps, as `journeys show`")
    show = action(
        journeys, "show", help="one journey as a timeline: each step, its time and duration", run=show_journey
    )
    show.add_argument("id")
    cleanup = action(
        journeys,
        "cleanup",
        help="expire the journeys abandoned at sign-in, consent or a downstream provider;"
        " delete those that ended without a grant long ago",
        run=cleanup_journeys,
    )
    settings_module.add_arguments(cleanup, "journey_retention", default=argparse.SUPPRESS)
    repeat_settings(journeys, "db")


async def list_journeys(settings: Settings, args: argparse.Namespace) -> None:
    """Issue 17: one line per journey (id, state, client, MCP server, username, started, age); ``--steps`` in full."""
    async with services(settings) as (db, found):
        timelines = await found.timelines.recent(args.limit)
        user_ids = {timeline.user_id for timeline in timelines if timeline.user_id}

        async def usernames(tx: Transaction) -> dict[str, str]:
            users = [await found.accounts.user(tx, user_id) for user_id in user_ids]
            return {user.id: user.username for user in users if user is not None}

        names = await db.run(usernames)
    if not timelines:
        print("no journeys yet")
    if args.steps:
        for timeline in timelines:
            _print_timeline(timeline, with_steps=True)
        return
    now = clock.now()
    for timeline in timelines:
        print(_one_line(timeline, names, now))


#: The widths of the one-line listing's text columns; a longer value is cut, ending in "…".
STATE_WIDTH, CLIENT_WIDTH, SERVER_WIDTH, USER_WIDTH = 23, 24, 16, 16


def _one_line(timeline: Timeline, usernames: dict[str, str], now: datetime) -> str:
    """A journey on one line: id, state, client name, MCP server, username, started (UTC), age."""
    user = "-" if timeline.user_id is None else usernames.get(timeline.user_id, "(deleted)")
    columns = [
        timeline.journey_id,
        _cut(str(timeline.status), STATE_WIDTH),
        _cut(timeline.client_name or "(deleted)", CLIENT_WIDTH),
        _cut(timeline.mcp_server_id, SERVER_WIDTH),
        _cut(user, USER_WIDTH),
        f"{timeline.started_at:%Y-%m-%d %H:%M:%S}",
        _age(now - timeline.started_at),
    ]
    return "  ".join(columns)


def _cut(text: str, width: int) -> str:
    """``text`` in a column of ``width``: control characters escaped, cut with "…", padded."""
    shown = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return (shown if len(shown) <= width else shown[: width - 1] + "…").ljust(width)


def _age(age: timedelta) -> str:
    """How long ago, in the largest unit that fits: ``42s``, ``5m``, ``3h``, ``12d``."""
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


async def show_journey(settings: Settings, args: argparse.Namespace) -> None:
    """Issue 4: one journey as a timeline, each step with its time and how long it took."""
    async with services(settings) as (_, found):
        timeline = await found.timelines.get(args.id)
    if timeline is None:
        raise ValueError(f"no journey with id {args.id!r}")
    _print_timeline(timeline, with_steps=True)


async def cleanup_journeys(settings: Settings, args: argparse.Namespace) -> None:
    """Issue 11, item 4: what the server's maintenance task does every ``client_cleanup_interval`` seconds."""
    async with services(settings) as (_, found):
        done = await found.journey_expiry.cleanup()
    print(f"expired {done.expired} journey(s) abandoned at sign-in, consent or a downstream provider")
    print(f"deleted {done.deleted} journey(s) that ended without a grant more than {settings.journey_retention} s ago")


def _print_timeline(timeline: Timeline, *, with_steps: bool) -> None:
    took = timeline.duration.total_seconds() * 1000
    print(f"journey {timeline.journey_id}  [{timeline.status}]  started {timeline.started_at:%Y-%m-%d %H:%M:%S} UTC")
    print(f"  client        {timeline.client_name or '(deleted)'!r} ({timeline.client_id})")
    version = f", version {timeline.mcp_server_version}" if timeline.mcp_server_version else ""
    print(f"  MCP server    {timeline.mcp_server_name or '(deleted)'!r} ({timeline.mcp_server_id}{version})")
    print(f"  issuer        {timeline.issuer}")
    print(f"  MCP flow      {timeline.mcp_flow_id} (links the journey, the client and the MCP server)")
    connections = ", ".join(f"{c.name} ({c.id})" for c in timeline.connections) or "none"
    print(f"  connections   {connections}")
    downstream = ", ".join(f"{d.connection_name} ({d.flow_id}) {d.status}" for d in timeline.downstream) or "none"
    print(f"  downstream    {downstream}")
    if timeline.user_id:
        print(f"  user          {timeline.user_id}")
    print(f"  outcome       {timeline.outcome}, {len(timeline.steps)} steps in {took:.1f} ms")
    if with_steps:
        for step in timeline.steps:
            ms = step.took.total_seconds() * 1000
            print(f"    {step.at:%H:%M:%S.%f}  +{ms:8.1f} ms  {step.step:<26} {step.detail or ''}".rstrip())
