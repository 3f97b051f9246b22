"""SQL for the ``consents`` table."""

from datetime import datetime

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.consents.entities import Consent
from mcp_authz.authorization_server.db import Row, Transaction
from mcp_authz.shared.scopes import format_scope, parse_scope


async def get(tx: Transaction, user_id: str, client_id: str, mcp_server_id: str) -> Consent | None:
    row = await tx.fetch_one(
        "SELECT * FROM consents WHERE user_id = ? AND client_id = ? AND mcp_server_id = ?",
        (user_id, client_id, mcp_server_id),
    )
    return _consent(row) if row else None


async def put(tx: Transaction, consent: Consent) -> None:
    """Add the consent, or replace the one of the same user, client and MCP server."""
    await tx.execute(
        "INSERT INTO consents (user_id, client_id, mcp_server_id, issuer, scope, approved_at, last_used_at,"
        " redirect_uris) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, client_id, mcp_server_id) DO UPDATE"
        " SET issuer = excluded.issuer, scope = excluded.scope, approved_at = excluded.approved_at,"
        " last_used_at = excluded.last_used_at, redirect_uris = excluded.redirect_uris",
        (
            consent.user_id,
            consent.client_id,
            consent.mcp_server_id,
            consent.issuer,
            format_scope(consent.scope),
            clock.to_db(consent.approved_at),
            clock.to_db(consent.last_used_at) if consent.last_used_at else None,
            " ".join(consent.redirect_uris),
        ),
    )


async def mark_used(tx: Transaction, user_id: str, client_id: str, mcp_server_id: str, at: datetime) -> None:
    await tx.execute(
        "UPDATE consents SET last_used_at = ? WHERE user_id = ? AND client_id = ? AND mcp_server_id = ?",
        (clock.to_db(at), user_id, client_id, mcp_server_id),
    )


async def delete(tx: Transaction, user_id: str, client_id: str, mcp_server_id: str) -> bool:
    changed = await tx.execute(
        "DELETE FROM consents WHERE user_id = ? AND client_id = ? AND mcp_server_id = ?",
        (user_id, client_id, mcp_server_id),
    )
    return changed == 1


async def of_user(tx: Transaction, user_id: str) -> list[Consent]:
    rows = await tx.fetch_all("SELECT * FROM consents WHERE user_id = ? ORDER BY approved_at DESC", (user_id,))
    return [_consent(row) for row in rows]


def _consent(row: Row) -> Consent:
    return Consent(
        user_id=row["user_id"],
        client_id=row["client_id"],
        mcp_server_id=row["mcp_server_id"],
        issuer=row["issuer"],
        scope=parse_scope(row["scope"]),
        approved_at=clock.from_db(row["approved_at"]),
        last_used_at=clock.from_db(row["last_used_at"]) if row["last_used_at"] else None,
        redirect_uris=tuple(row["redirect_uris"].split()),
    )
