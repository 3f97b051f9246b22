"""``journeys list | show | cleanup``: authorization journeys as timelines (issue 4), and their cleanup (issue 11)."""

import argparse

from authorization_server import settings as settings_module
from authorization_server.admin.timelines import Timeline
from authorization_server.cli.shared import Actions, action, group, repeat_settings, services
from authorization_server.settings import Settings


def add_commands(commands: Actions) -> None:
    journeys = group(commands, "journeys", help="show authorization journeys")
    listing = action(
        journeys, "list", help="the latest journeys: client, MCP server, connections, outcome", run=list_journeys
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
        help="expire the journeys abandoned at sign-in or consent, delete those that ended without a grant long ago",
        run=cleanup_journeys,
    )
    settings_module.add_arguments(cleanup, "journey_retention", default=argparse.SUPPRESS)
    repeat_settings(journeys, "db")


async def list_journeys(settings: Settings, args: argparse.Namespace) -> None:
    async with services(settings) as (_, found):
        timelines = await found.timelines.recent(args.limit)
    if not timelines:
        print("no journeys yet")
    for timeline in timelines:
        _print_timeline(timeline, with_steps=args.steps)


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
    print(f"expired {done.expired} journey(s) abandoned at sign-in or consent")
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
