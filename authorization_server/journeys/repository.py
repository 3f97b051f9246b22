"""SQL for journeys, their events, and their MCP and downstream authorization flows.

The only module of journeys/ that sees a row: every function returns entities
(``journeys/entities.py``) or plain values, never a database row (docs/conventions/entities.md).
"""

from dataclasses import replace
from datetime import datetime
from typing import Any

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Row, Transaction
from mcp_authz.authorization_server.journeys.entities import (
    AuthorizationRequest,
    CompletedDownstreamFlow,
    DownstreamAuthorizationFlow,
    DownstreamFlowStatus,
    Event,
    Interaction,
    Journey,
    JourneySearch,
    JourneyStatus,
    McpAuthorizationFlow,
    StartedDownstreamFlow,
    Step,
)
from mcp_authz.shared.scopes import format_scope, parse_scope

_SELECT = (
    "SELECT j.*, f.id AS flow_id, f.mcp_server_id, f.client_id, f.mcp_server_version,"
    " f.created_at AS flow_created_at"
    " FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
)

#: Columns that :func:`move` may set besides the status.
_MOVABLE = frozenset(
    {
        "user_id",
        "code_hash",
        "code_expires_at",
        "interaction_hash",
        "interaction_expires_at",
        "failure_reason",
        "created_at",
    }
)

#: The movable columns that a :class:`Journey` carries (the digests stay in the database).
_JOURNEY_FIELDS = frozenset({"user_id", "failure_reason", "interaction_expires_at", "code_expires_at", "created_at"})

#: Columns that :func:`finish_downstream_flow` may set besides the status.
_DOWNSTREAM_COLUMNS = frozenset(
    {
        "access_token_sealed",
        "refresh_token_sealed",
        "token_expires_at",
        "scope",
        "failure_reason",
        "completed_at",
        "code_verifier_sealed",
    }
)


async def add(
    tx: Transaction,
    journey_id: str,
    issuer: str,
    status: JourneyStatus,
    flow: McpAuthorizationFlow,
    interaction: Interaction | None = None,
    user_id: str | None = None,
) -> None:
    """A new journey and its MCP flow, both stamped with the flow's creation time; with ``interaction``,
    the request it accepted, and ``user_id`` when the user was signed in already, written in the same
    ``INSERT`` (fewer statements per /authorize, issue 14)."""
    at = clock.to_db(flow.created_at)
    if interaction is None:
        await tx.execute(
            "INSERT INTO authorization_journeys (id, issuer, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (journey_id, issuer, status, at, at),
        )
    else:
        request = interaction.request
        await tx.execute(
            "INSERT INTO authorization_journeys (id, issuer, status, created_at, updated_at, redirect_uri, state,"
            " scope, resource, code_challenge, interaction_hash, interaction_expires_at, browser_hash, user_started,"
            " dpop_jkt, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                journey_id,
                issuer,
                status,
                at,
                at,
                request.redirect_uri,
                request.state,
                format_scope(request.scope),
                request.resource,
                request.code_challenge,
                interaction.interaction_hash,
                clock.to_db(interaction.interaction_expires_at),
                interaction.browser_hash,
                int(request.user_started),
                request.dpop_jkt,
                user_id,
            ),
        )
    await tx.execute(
        "INSERT INTO mcp_authorization_flows (id, journey_id, mcp_server_id, client_id, mcp_server_version,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (flow.id, journey_id, flow.mcp_server_id, flow.client_id, flow.mcp_server_version, at),
    )


async def add_events(tx: Transaction, journey_id: str, events: tuple[Event, ...]) -> None:
    """The journey's ``events``, in one ``INSERT`` of a row each, numbered in their order (issue 14)."""
    rows = ", ".join(["(?, ?, ?, ?)"] * len(events))
    await tx.execute(
        f"INSERT INTO journey_events (journey_id, step, at, detail) VALUES {rows}",  # noqa: S608 - only "?"
        [value for event in events for value in (journey_id, event.step, clock.to_db(event.at), event.detail)],
    )


async def count_events(tx: Transaction, journey_id: str, steps: tuple[Step, ...]) -> int:
    """How many of ``steps`` the journey recorded."""
    counted = await tx.fetch_all(
        "SELECT step, count(*) AS n FROM journey_events WHERE journey_id = ? GROUP BY step", (journey_id,)
    )
    return sum(int(row["n"]) for row in counted if row["step"] in steps)


async def has_token_event(tx: Transaction, journey_id: str, jti: str) -> bool:
    """Whether the journey has a step naming the access token ``jti`` (``journey_events_introspected``)."""
    row = await tx.fetch_one("SELECT 1 FROM journey_events WHERE journey_id = ? AND token_jti = ?", (journey_id, jti))
    return row is not None


async def add_token_event(tx: Transaction, journey_id: str, step: Step, at: datetime, detail: str, jti: str) -> None:
    """A step about one access token; a second one for the same journey and ``jti`` is not added."""
    await tx.execute(
        "INSERT INTO journey_events (journey_id, step, at, detail, token_jti) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (journey_id, token_jti) WHERE token_jti IS NOT NULL DO NOTHING",
        (journey_id, step, clock.to_db(at), detail, jti),
    )


async def move(
    tx: Transaction,
    journey_id: str,
    source: JourneyStatus,
    target: JourneyStatus,
    at: datetime,
    **columns: Any,
) -> bool:
    """Move a journey from ``source`` to ``target`` and set ``columns``; false if it was not in ``source``."""
    assert set(columns) <= _MOVABLE, f"not a movable column: {set(columns) - _MOVABLE}"
    return await _move_row(tx, "authorization_journeys", journey_id, source, target, at, columns)


async def extend_interaction(tx: Transaction, journey_id: str, until: datetime) -> None:
    """Move the journey's interaction deadline to ``until`` (a downstream provider's authorization under way)."""
    await tx.execute(
        "UPDATE authorization_journeys SET interaction_expires_at = ? WHERE id = ?", (clock.to_db(until), journey_id)
    )


async def adopt_registration(tx: Transaction, registered: Journey, journey_id: str) -> None:
    """Fold a ``registered`` journey into ``journey_id``: its steps and MCP server version; then delete it.

    Its start is the caller's to set, with the move of ``journey_id`` that follows (one ``UPDATE``, issue 14).
    """
    await tx.execute("UPDATE journey_events SET journey_id = ? WHERE journey_id = ?", (journey_id, registered.id))
    await tx.execute(
        "UPDATE mcp_authorization_flows SET mcp_server_version = ? WHERE journey_id = ?",
        (registered.mcp_flow.mcp_server_version, journey_id),
    )
    await tx.execute("DELETE FROM authorization_journeys WHERE id = ?", (registered.id,))


async def waiting_past(
    tx: Transaction, statuses: tuple[JourneyStatus, ...], moment: datetime, limit: int
) -> list[Journey]:
    """At most ``limit`` of the journeys in ``statuses`` whose interaction deadline passed before ``moment``."""
    marks = ", ".join("?" * len(statuses))
    rows = await tx.fetch_all(
        f"{_SELECT} WHERE j.status IN ({marks}) AND j.interaction_expires_at < ? LIMIT ?",
        (*statuses, clock.to_db(moment), limit),
    )
    return [_journey(row) for row in rows]


async def delete_ended_before(
    tx: Transaction, statuses: tuple[JourneyStatus, ...], moment: datetime, limit: int
) -> int:
    """Delete at most ``limit`` journeys in ``statuses`` last changed before ``moment``; steps and flows cascade."""
    marks = ", ".join("?" * len(statuses))
    return await tx.execute(
        "DELETE FROM authorization_journeys WHERE id IN (SELECT id FROM authorization_journeys"  # noqa: S608 - "?"
        f" WHERE status IN ({marks}) AND updated_at < ? LIMIT ?)",
        (*statuses, clock.to_db(moment), limit),
    )


async def registered_journey(tx: Transaction, client_id: str, mcp_server_id: str) -> Journey | None:
    """The oldest journey of this client and MCP server that is still waiting for its first request."""
    row = await tx.fetch_one(
        f"{_SELECT} WHERE f.client_id = ? AND f.mcp_server_id = ? AND j.status = ? ORDER BY j.created_at LIMIT 1",
        (client_id, mcp_server_id, JourneyStatus.REGISTERED),
    )
    return _journey(row) if row else None


async def machine_journey_id(tx: Transaction, client_id: str, mcp_server_id: str) -> str | None:
    """The journey of a client's client_credentials tokens for one MCP server: active, and no user in it."""
    row = await tx.fetch_one(
        "SELECT j.id FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
        " WHERE f.client_id = ? AND f.mcp_server_id = ? AND j.status = ? AND j.user_id IS NULL"
        " ORDER BY j.created_at LIMIT 1",
        (client_id, mcp_server_id, JourneyStatus.ACTIVE),
    )
    return row["id"] if row else None


async def granted_ids(tx: Transaction, user_id: str, client_id: str, mcp_server_id: str) -> list[str]:
    """The journeys of one user, client and MCP server that hold tokens or a code not yet redeemed."""
    rows = await tx.fetch_all(
        "SELECT j.id FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
        " WHERE f.client_id = ? AND f.mcp_server_id = ? AND j.user_id = ? AND j.status IN (?, ?)",
        (client_id, mcp_server_id, user_id, JourneyStatus.ACTIVE, JourneyStatus.CODE_ISSUED),
    )
    return [row["id"] for row in rows]


async def granted_ids_of_client(tx: Transaction, client_id: str) -> list[str]:
    """The journeys of one client, for every user and MCP server, that hold tokens or a code not yet redeemed."""
    rows = await tx.fetch_all(
        "SELECT j.id FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
        " WHERE f.client_id = ? AND j.status IN (?, ?)",
        (client_id, JourneyStatus.ACTIVE, JourneyStatus.CODE_ISSUED),
    )
    return [row["id"] for row in rows]


async def granted_ids_of_user(tx: Transaction, user_id: str) -> list[str]:
    """The journeys one user approved, for every client and MCP server, that hold tokens or a code not yet redeemed."""
    rows = await tx.fetch_all(
        "SELECT id FROM authorization_journeys WHERE user_id = ? AND status IN (?, ?)",
        (user_id, JourneyStatus.ACTIVE, JourneyStatus.CODE_ISSUED),
    )
    return [row["id"] for row in rows]


async def granted_ids_at_server(tx: Transaction, mcp_server_id: str) -> list[str]:
    """The journeys for one MCP server, for every client and user, that hold tokens or a code not yet redeemed."""
    rows = await tx.fetch_all(
        "SELECT j.id FROM authorization_journeys j JOIN mcp_authorization_flows f ON f.journey_id = j.id"
        " WHERE f.mcp_server_id = ? AND j.status IN (?, ?)",
        (mcp_server_id, JourneyStatus.ACTIVE, JourneyStatus.CODE_ISSUED),
    )
    return [row["id"] for row in rows]


async def count_at_server(tx: Transaction, mcp_server_id: str) -> int:
    """How many journeys, of any status, are for one MCP server."""
    row = await tx.fetch_one(
        "SELECT count(*) AS n FROM mcp_authorization_flows WHERE mcp_server_id = ?", (mcp_server_id,)
    )
    return int(row["n"]) if row else 0


async def delete_for_clients(tx: Transaction, client_ids: list[str]) -> int:
    """Delete the clients' journeys; events, flows and refresh tokens go with them (foreign keys cascade)."""
    marks = ", ".join("?" * len(client_ids))
    return await tx.execute(
        "DELETE FROM authorization_journeys WHERE id IN"  # noqa: S608 - only "?" marks
        f" (SELECT journey_id FROM mcp_authorization_flows WHERE client_id IN ({marks}))",
        client_ids,
    )


async def get(tx: Transaction, journey_id: str) -> Journey | None:
    row = await tx.fetch_one(f"{_SELECT} WHERE j.id = ?", (journey_id,))
    return _journey(row) if row else None


async def by_interaction(tx: Transaction, interaction_hash: str) -> tuple[Journey, str] | None:
    """The journey of a pending interaction, and the digest of the browser cookie that started it."""
    row = await tx.fetch_one(f"{_SELECT} WHERE j.interaction_hash = ?", (interaction_hash,))
    return (_journey(row), row["browser_hash"]) if row else None


async def by_code(tx: Transaction, code_hash: str) -> Journey | None:
    row = await tx.fetch_one(f"{_SELECT} WHERE j.code_hash = ?", (code_hash,))
    return _journey(row) if row else None


async def recent(tx: Transaction, limit: int) -> list[Journey]:
    rows = await tx.fetch_all(f"{_SELECT} ORDER BY j.created_at DESC LIMIT ?", (limit,))
    return [_journey(row) for row in rows]


async def search(tx: Transaction, wanted: JourneySearch) -> list[Journey]:
    """The journeys ``wanted`` names, newest first (ties by id), at most ``wanted.limit``."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("f.client_id", wanted.client_id),
        ("j.user_id", wanted.user_id),
        ("f.mcp_server_id", wanted.mcp_server_id),
        ("j.status", wanted.status and str(wanted.status)),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if wanted.since is not None:
        where.append("j.created_at >= ?")
        params.append(clock.to_db(wanted.since))
    if wanted.until is not None:
        where.append("j.created_at < ?")
        params.append(clock.to_db(wanted.until))
    if wanted.before is not None:
        at, journey_id = wanted.before
        where.append("(j.created_at < ? OR (j.created_at = ? AND j.id < ?))")
        params += [clock.to_db(at), clock.to_db(at), journey_id]
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await tx.fetch_all(
        f"{_SELECT}{condition} ORDER BY j.created_at DESC, j.id DESC LIMIT ?", (*params, wanted.limit)
    )
    return [_journey(row) for row in rows]


async def events(tx: Transaction, journey_id: str) -> list[Event]:
    rows = await tx.fetch_all(
        "SELECT step, at, detail FROM journey_events WHERE journey_id = ? ORDER BY id", (journey_id,)
    )
    return [Event(Step(row["step"]), clock.from_db(row["at"]), row["detail"]) for row in rows]


async def add_downstream_flow(
    tx: Transaction,
    flow: DownstreamAuthorizationFlow,
    *,
    state_hash: str | None = None,
    state_expires_at: datetime | None = None,
    redirect_uri: str | None = None,
    code_verifier_sealed: bytes | None = None,
) -> None:
    """Insert a downstream flow; the schema's triggers refuse a connection of another MCP server."""
    await tx.execute(
        "INSERT INTO downstream_authorization_flows (id, journey_id, mcp_connection_id, status, created_at,"
        " updated_at, state_hash, state_expires_at, redirect_uri, code_verifier_sealed)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            flow.id,
            flow.journey_id,
            flow.mcp_connection_id,
            flow.status,
            clock.to_db(flow.created_at),
            clock.to_db(flow.updated_at),
            state_hash,
            clock.to_db(state_expires_at) if state_expires_at else None,
            redirect_uri,
            code_verifier_sealed,
        ),
    )


async def downstream_flows(tx: Transaction, journey_id: str) -> list[DownstreamAuthorizationFlow]:
    rows = await tx.fetch_all(
        "SELECT * FROM downstream_authorization_flows WHERE journey_id = ? ORDER BY created_at, id", (journey_id,)
    )
    return [_downstream_flow(row) for row in rows]


async def take_downstream_state(tx: Transaction, state_hash: str) -> StartedDownstreamFlow | None:
    """The flow started with this state, which is cleared here so that it answers once only."""
    row = await tx.fetch_one("SELECT * FROM downstream_authorization_flows WHERE state_hash = ?", (state_hash,))
    if row is None:
        return None
    await tx.execute("UPDATE downstream_authorization_flows SET state_hash = NULL WHERE id = ?", (row["id"],))
    # Only start_downstream_flow writes a state, and with it the redirect URI, verifier and deadline.
    return StartedDownstreamFlow(
        flow=_downstream_flow(row),
        redirect_uri=row["redirect_uri"],
        code_verifier_sealed=row["code_verifier_sealed"],
        state_expires_at=clock.from_db(row["state_expires_at"]),
    )


async def finish_downstream_flow(
    tx: Transaction,
    flow_id: str,
    source: DownstreamFlowStatus,
    target: DownstreamFlowStatus,
    at: datetime,
    **columns: Any,
) -> bool:
    """Move a flow from ``source`` to ``target``, setting ``columns``; false if it was not in ``source``."""
    assert set(columns) <= _DOWNSTREAM_COLUMNS, f"not a downstream column: {set(columns) - _DOWNSTREAM_COLUMNS}"
    return await _move_row(tx, "downstream_authorization_flows", flow_id, source, target, at, columns)


async def _move_row(
    tx: Transaction, table: str, row_id: str, source: str, target: str, at: datetime, columns: dict[str, Any]
) -> bool:
    """Move a row's status from ``source`` to ``target`` with ``columns``; table and names come from the callers."""
    assignments = "".join(f", {name} = ?" for name in columns)
    values = [clock.to_db(v) if isinstance(v, datetime) else v for v in columns.values()]
    changed = await tx.execute(
        f"UPDATE {table} SET status = ?, updated_at = ?{assignments}"  # noqa: S608 - fixed names, checked by callers
        " WHERE id = ? AND status = ?",
        (target, clock.to_db(at), *values, row_id, source),
    )
    return changed == 1


async def completed_downstream_flow(
    tx: Transaction, journey_id: str, connection_id: str
) -> CompletedDownstreamFlow | None:
    """The completed flow of a journey for one connection, with its sealed tokens."""
    row = await tx.fetch_one(
        "SELECT * FROM downstream_authorization_flows WHERE journey_id = ? AND mcp_connection_id = ? AND status = ?",
        (journey_id, connection_id, DownstreamFlowStatus.COMPLETED),
    )
    if row is None:
        return None
    return CompletedDownstreamFlow(
        flow=_downstream_flow(row),
        access_token_sealed=row["access_token_sealed"],
        refresh_token_sealed=row["refresh_token_sealed"],
        token_expires_at=_maybe_time(row["token_expires_at"]),
        scope=row["scope"],
    )


async def browser_hash(tx: Transaction, journey_id: str) -> str | None:
    row = await tx.fetch_one("SELECT browser_hash FROM authorization_journeys WHERE id = ?", (journey_id,))
    return row["browser_hash"] if row else None


def _downstream_flow(row: Row) -> DownstreamAuthorizationFlow:
    return DownstreamAuthorizationFlow(
        id=row["id"],
        journey_id=row["journey_id"],
        mcp_connection_id=row["mcp_connection_id"],
        status=DownstreamFlowStatus(row["status"]),
        created_at=clock.from_db(row["created_at"]),
        updated_at=clock.from_db(row["updated_at"]),
        failure_reason=row["failure_reason"],
        completed_at=_maybe_time(row["completed_at"]),
    )


def _journey(row: Row) -> Journey:
    flow = McpAuthorizationFlow(
        id=row["flow_id"],
        journey_id=row["id"],
        mcp_server_id=row["mcp_server_id"],
        client_id=row["client_id"],
        mcp_server_version=row["mcp_server_version"],
        created_at=clock.from_db(row["flow_created_at"]),
    )
    request = None
    if row["redirect_uri"] is not None:
        request = AuthorizationRequest(
            issuer=row["issuer"],
            client_id=flow.client_id,
            mcp_server_id=flow.mcp_server_id,
            redirect_uri=row["redirect_uri"],
            scope=parse_scope(row["scope"]),
            resource=row["resource"],
            code_challenge=row["code_challenge"],
            state=row["state"],
            user_started=bool(row["user_started"]),
            dpop_jkt=row["dpop_jkt"],
        )
    return Journey(
        id=row["id"],
        issuer=row["issuer"],
        status=JourneyStatus(row["status"]),
        mcp_flow=flow,
        request=request,
        user_id=row["user_id"],
        failure_reason=row["failure_reason"],
        interaction_expires_at=_maybe_time(row["interaction_expires_at"]),
        code_expires_at=_maybe_time(row["code_expires_at"]),
        created_at=clock.from_db(row["created_at"]),
        updated_at=clock.from_db(row["updated_at"]),
    )


def created(journey_id: str, issuer: str, status: JourneyStatus, flow: McpAuthorizationFlow) -> Journey:
    """The journey :func:`add` just wrote, as :func:`get` would read it back."""
    return Journey(
        id=journey_id,
        issuer=issuer,
        status=status,
        mcp_flow=flow,
        request=None,
        user_id=None,
        failure_reason=None,
        interaction_expires_at=None,
        code_expires_at=None,
        created_at=flow.created_at,
        updated_at=flow.created_at,
    )


def moved(journey: Journey, target: JourneyStatus, at: datetime, columns: dict[str, Any]) -> Journey:
    """``journey`` after :func:`move` to ``target`` with ``columns``, as :func:`get` would read it back."""
    kept = {name: value for name, value in columns.items() if name in _JOURNEY_FIELDS}
    return replace(journey, status=target, updated_at=at, **kept)


def requested(journey: Journey, interaction: Interaction, user_id: str | None) -> Journey:
    """``journey`` created with ``interaction`` and ``user_id`` by :func:`add`, as :func:`get` would read it back."""
    flow = journey.mcp_flow
    request = interaction.request
    stored = AuthorizationRequest(
        issuer=journey.issuer,
        client_id=flow.client_id,
        mcp_server_id=flow.mcp_server_id,
        redirect_uri=request.redirect_uri,
        scope=parse_scope(format_scope(request.scope)),
        resource=request.resource,
        code_challenge=request.code_challenge,
        state=request.state,
        user_started=request.user_started,
        dpop_jkt=request.dpop_jkt,
    )
    return replace(journey, request=stored, interaction_expires_at=interaction.interaction_expires_at, user_id=user_id)


def _maybe_time(text: str | None) -> datetime | None:
    return clock.from_db(text) if text else None
