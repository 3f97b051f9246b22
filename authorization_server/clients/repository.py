"""SQL for the ``clients``, ``client_assertions``, ``client_credentials_approvals``, ``rate_limit_buckets`` tables."""

import json
from datetime import datetime

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.clients.entities import Client, IdJagAudience, MachineApproval
from mcp_authz.authorization_server.db import Row, Transaction
from mcp_authz.shared.scopes import format_scope, parse_scope

_INSERT = (
    "INSERT INTO clients (client_id, issuer, client_secret_hash, client_secret_expires_at,"
    " token_endpoint_auth_method, metadata, created_at, last_used_at, registration_token_hash,"
    " workload_issuer, workload_subject)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def add(tx: Transaction, client: Client, *, refresh: bool = False) -> None:
    """Insert ``client``; with ``refresh``, a row of the same id takes its method and metadata instead."""
    upsert = (
        " ON CONFLICT (client_id) DO UPDATE SET token_endpoint_auth_method = excluded.token_endpoint_auth_method,"
        " metadata = excluded.metadata"
    )
    await tx.execute(
        _INSERT + (upsert if refresh else ""),
        (
            client.client_id,
            client.issuer,
            client.secret_hash,
            client.secret_expires_at,
            client.token_endpoint_auth_method,
            json.dumps(client.metadata),
            clock.to_db(client.created_at),
            clock.to_db(client.last_used_at),
            client.registration_token_hash,
            client.workload_issuer,
            client.workload_subject,
        ),
    )


async def set_metadata(tx: Transaction, client_id: str, metadata: dict[str, object]) -> None:
    await tx.execute("UPDATE clients SET metadata = ? WHERE client_id = ?", (json.dumps(metadata), client_id))


async def set_blocked(tx: Transaction, client_id: str, blocked: bool) -> bool:
    """Mark the client blocked or not; ``False`` if there is no such client."""
    changed = await tx.execute("UPDATE clients SET blocked = ? WHERE client_id = ?", (int(blocked), client_id))
    return changed == 1


async def get(tx: Transaction, client_id: str) -> Client | None:
    row = await tx.fetch_one("SELECT * FROM clients WHERE client_id = ?", (client_id,))
    return _client(row) if row else None


async def all(tx: Transaction) -> list[Client]:
    return [_client(row) for row in await tx.fetch_all("SELECT * FROM clients ORDER BY created_at")]


async def mark_used(tx: Transaction, client_id: str, at: datetime) -> None:
    await tx.execute("UPDATE clients SET last_used_at = ? WHERE client_id = ?", (clock.to_db(at), client_id))


async def idle_since(tx: Transaction, moment: datetime) -> list[str]:
    """The ids of the clients not used since ``moment``."""
    rows = await tx.fetch_all("SELECT client_id FROM clients WHERE last_used_at < ?", (clock.to_db(moment),))
    return [row["client_id"] for row in rows]


async def idle_among(tx: Transaction, client_ids: list[str], moment: datetime) -> list[str]:
    """Those of ``client_ids`` still not used since ``moment``."""
    marks = ", ".join("?" * len(client_ids))
    rows = await tx.fetch_all(
        f"SELECT client_id FROM clients WHERE client_id IN ({marks}) AND last_used_at < ?",  # noqa: S608 - "?" marks
        (*client_ids, clock.to_db(moment)),
    )
    return [row["client_id"] for row in rows]


async def delete(tx: Transaction, client_ids: list[str]) -> None:
    """Delete the clients; their refresh tokens and MCP flows go with them (foreign keys cascade)."""
    marks = ", ".join("?" * len(client_ids))
    await tx.execute(f"DELETE FROM clients WHERE client_id IN ({marks})", client_ids)  # noqa: S608 - only "?" marks


def _client(row: Row) -> Client:
    metadata = json.loads(row["metadata"])
    return Client(
        client_id=row["client_id"],
        issuer=row["issuer"],
        token_endpoint_auth_method=row["token_endpoint_auth_method"],
        redirect_uris=tuple(metadata.get("redirect_uris", ())),
        grant_types=tuple(metadata.get("grant_types", ())),
        client_name=metadata.get("client_name"),
        metadata=metadata,
        secret_hash=row["client_secret_hash"],
        secret_expires_at=row["client_secret_expires_at"],
        created_at=clock.from_db(row["created_at"]),
        last_used_at=clock.from_db(row["last_used_at"]),
        registration_token_hash=row["registration_token_hash"],
        blocked=bool(row["blocked"]),
        workload_issuer=row["workload_issuer"],
        workload_subject=row["workload_subject"],
    )


async def spend_assertion(
    tx: Transaction, client_id: str, jti_hash: str, expires_at: datetime, *, forget_expired_before: datetime
) -> bool:
    """Record an assertion's ``jti``; ``False`` if it was already used and is still remembered.

    The ``jti``s of assertions that expired before ``forget_expired_before`` are deleted first.
    """
    await tx.execute("DELETE FROM client_assertions WHERE expires_at < ?", (clock.to_db(forget_expired_before),))
    changed = await tx.execute(
        "INSERT INTO client_assertions (client_id, jti_hash, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (client_id, jti_hash, clock.to_db(expires_at)),
    )
    return changed == 1


async def approve(tx: Transaction, approval: MachineApproval) -> None:
    """Record the approval; one already there for the same client and MCP server is replaced."""
    await tx.execute(
        "INSERT INTO client_credentials_approvals (client_id, mcp_server_id, scopes, approved_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (client_id, mcp_server_id) DO UPDATE SET scopes = excluded.scopes,"
        " approved_at = excluded.approved_at",
        (approval.client_id, approval.mcp_server_id, format_scope(approval.scopes), clock.to_db(approval.approved_at)),
    )


async def approvals(tx: Transaction, client_id: str) -> list[MachineApproval]:
    rows = await tx.fetch_all(
        "SELECT * FROM client_credentials_approvals WHERE client_id = ? ORDER BY mcp_server_id", (client_id,)
    )
    return [
        MachineApproval(
            client_id=row["client_id"],
            mcp_server_id=row["mcp_server_id"],
            scopes=parse_scope(row["scopes"]),
            approved_at=clock.from_db(row["approved_at"]),
        )
        for row in rows
    ]


async def withdraw(tx: Transaction, client_id: str, mcp_server_ids: list[str] | None) -> list[str]:
    """Delete the client's approvals (for these MCP servers, or all); returns the MCP servers they were for."""
    withdrawn = [
        approval.mcp_server_id
        for approval in await approvals(tx, client_id)
        if mcp_server_ids is None or approval.mcp_server_id in mcp_server_ids
    ]
    for mcp_server_id in withdrawn:
        await tx.execute(
            "DELETE FROM client_credentials_approvals WHERE client_id = ? AND mcp_server_id = ?",
            (client_id, mcp_server_id),
        )
    return withdrawn


# The per-client token limit's buckets (rate_limit_buckets, migration 0015; issue 13). One statement
# spends a request: the bucket refilled for the time since its last spend, one request taken, what is
# left returned; a refusal (nothing left) is undone by the unit's rollback. Requests are counted in
# thousandths, so that the integer arithmetic of every engine refills evenly.
_SPEND = """
INSERT INTO rate_limit_buckets (bucket, tokens, updated_ms) VALUES (?, ?, ?)
ON CONFLICT (bucket) DO UPDATE SET
    tokens = CASE
        WHEN excluded.updated_ms - rate_limit_buckets.updated_ms >= ? THEN excluded.tokens
        WHEN excluded.updated_ms <= rate_limit_buckets.updated_ms THEN rate_limit_buckets.tokens - 1000
        WHEN rate_limit_buckets.tokens + (excluded.updated_ms - rate_limit_buckets.updated_ms) * ? / ? >= ?
            THEN excluded.tokens
        ELSE rate_limit_buckets.tokens + (excluded.updated_ms - rate_limit_buckets.updated_ms) * ? / ? - 1000
    END,
    updated_ms = CASE
        WHEN excluded.updated_ms > rate_limit_buckets.updated_ms THEN excluded.updated_ms
        ELSE rate_limit_buckets.updated_ms
    END
RETURNING tokens
"""


async def spend_from_bucket(tx: Transaction, bucket: str, *, count: int, seconds: int, now_ms: int) -> int:
    """Take one request from ``bucket`` (``count`` per ``seconds``, full when new); the thousandths left,
    negative when there was not a whole request left."""
    capacity = count * 1000
    full_after_ms = seconds * 1000
    params = (bucket, capacity - 1000, now_ms, full_after_ms, count, seconds, capacity, count, seconds)
    rows = await tx.fetch_all(_SPEND, params)  # all of them: the statement ends before the unit goes on
    return int(rows[0][0]) if rows else capacity - 1000


async def delete_full_buckets(tx: Transaction, prefix: str, idle_since_ms: int, limit: int) -> int:
    """Forget at most ``limit`` buckets of ``prefix`` untouched since ``idle_since_ms``: they have refilled
    (the upkeep)."""
    return await tx.execute(
        "DELETE FROM rate_limit_buckets WHERE bucket IN (SELECT bucket FROM rate_limit_buckets"
        " WHERE bucket LIKE ? AND updated_ms < ? LIMIT ?)",
        (prefix + " %", idle_since_ms, limit),
    )


async def allow_id_jag(tx: Transaction, allowed: IdJagAudience) -> None:
    """Record the audience; one already there for the same client and audience is replaced."""
    await tx.execute(
        "DELETE FROM id_jag_audiences WHERE client_id = ? AND audience = ?", (allowed.client_id, allowed.audience)
    )
    await tx.execute(
        "INSERT INTO id_jag_audiences (client_id, audience, audience_client_id, created_at) VALUES (?, ?, ?, ?)",
        (allowed.client_id, allowed.audience, allowed.audience_client_id, clock.to_db(allowed.created_at)),
    )


async def withdraw_id_jag(tx: Transaction, client_id: str, audience: str) -> bool:
    changed = await tx.execute(
        "DELETE FROM id_jag_audiences WHERE client_id = ? AND audience = ?", (client_id, audience)
    )
    return changed == 1


async def id_jag_audiences(tx: Transaction, client_id: str | None) -> list[IdJagAudience]:
    sql = "SELECT * FROM id_jag_audiences"
    args: tuple[str, ...] = ()
    if client_id is not None:
        sql += " WHERE client_id = ?"
        args = (client_id,)
    return [
        IdJagAudience(row["client_id"], row["audience"], row["audience_client_id"], clock.from_db(row["created_at"]))
        for row in await tx.fetch_all(sql + " ORDER BY client_id, audience", args)
    ]
