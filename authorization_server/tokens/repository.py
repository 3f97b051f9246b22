"""SQL for the ``refresh_tokens`` and ``signing_keys`` tables."""

from datetime import datetime

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Row, Transaction
from mcp_authz.authorization_server.tokens.entities import Grant, RefreshToken, StoredKey
from mcp_authz.shared.scopes import format_scope, parse_scope


async def add(
    tx: Transaction, token_hash: str, grant: Grant, expires_at: datetime, *, dpop_jkt: str | None = None
) -> None:
    await tx.execute(
        "INSERT INTO refresh_tokens (token_hash, journey_id, client_id, subject, scope, resource, issuer,"
        " issued_at, expires_at, dpop_jkt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            token_hash,
            grant.journey_id,
            grant.client_id,
            grant.subject,
            format_scope(grant.scope),
            grant.resource,
            grant.issuer,
            clock.to_db(clock.now()),
            clock.to_db(expires_at),
            dpop_jkt,
        ),
    )


async def spend_dpop_proof(tx: Transaction, jti_hash: str, expires_at: datetime) -> bool:
    """Record a DPoP proof's ``jti``; ``False`` if it was already used (RFC 9449 §11.1).

    Proofs whose window is over are deleted first: they would be refused by their ``iat`` anyway.
    """
    await tx.execute("DELETE FROM dpop_proofs WHERE expires_at < ?", (clock.to_db(clock.now()),))
    changed = await tx.execute(
        "INSERT INTO dpop_proofs (jti_hash, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (jti_hash, clock.to_db(expires_at)),
    )
    return changed == 1


async def get(tx: Transaction, token_hash: str) -> RefreshToken | None:
    row = await tx.fetch_one("SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,))
    return _refresh_token(row) if row else None


async def mark_rotated(tx: Transaction, token_hash: str, successor_hash: str, successor_sealed: bytes | None) -> bool:
    """Mark a live token as exchanged for its successor; false if it was already rotated or revoked."""
    changed = await tx.execute(
        "UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ?, successor_sealed = ?"
        " WHERE token_hash = ? AND rotated_at IS NULL AND revoked_at IS NULL",
        (clock.to_db(clock.now()), successor_hash, successor_sealed, token_hash),
    )
    return changed == 1


async def forget_successors(tx: Transaction, rotated_before: datetime, journey_id: str) -> int:
    """Wipe the sealed successors of one family's tokens rotated before ``rotated_before``: their grace is over.

    Only that family's: a refresh touches no other grant's rows, so refreshes of different grants
    never conflict on an engine whose transactions run side by side (issue 13).
    """
    return await tx.execute(
        "UPDATE refresh_tokens SET successor_sealed = NULL"
        " WHERE successor_sealed IS NOT NULL AND rotated_at < ? AND journey_id = ?",
        (clock.to_db(rotated_before), journey_id),
    )


async def forget_some_successors(tx: Transaction, rotated_before: datetime, limit: int) -> int:
    """Wipe at most ``limit`` sealed successors, of any family, rotated before ``rotated_before`` (the upkeep)."""
    return await tx.execute(
        "UPDATE refresh_tokens SET successor_sealed = NULL WHERE token_hash IN (SELECT token_hash FROM refresh_tokens"
        " WHERE successor_sealed IS NOT NULL AND rotated_at < ? LIMIT ?)",
        (clock.to_db(rotated_before), limit),
    )


async def revoke_family(tx: Transaction, journey_id: str) -> int:
    return await tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE journey_id = ? AND revoked_at IS NULL",
        (clock.to_db(clock.now()), journey_id),
    )


async def clients_holding_live_tokens(tx: Transaction, client_ids: list[str]) -> set[str]:
    """Those of ``client_ids`` with a refresh token that is neither rotated, revoked nor expired."""
    marks = ", ".join("?" * len(client_ids))
    rows = await tx.fetch_all(
        f"SELECT DISTINCT client_id FROM refresh_tokens WHERE client_id IN ({marks})"  # noqa: S608 - only "?" marks
        " AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
        (*client_ids, clock.to_db(clock.now())),
    )
    return {row["client_id"] for row in rows}


async def signing_keys(tx: Transaction) -> list[StoredKey]:
    """Every signing key as stored, oldest first."""
    rows = await tx.fetch_all("SELECT kid, alg, private_key, created_at FROM signing_keys ORDER BY created_at")
    return [StoredKey(row["kid"], row["alg"], row["private_key"], clock.from_db(row["created_at"])) for row in rows]


async def add_signing_key(tx: Transaction, key: StoredKey) -> None:
    await tx.execute(
        "INSERT INTO signing_keys (kid, alg, private_key, created_at) VALUES (?, ?, ?, ?)",
        (key.kid, key.alg, key.private_key, clock.to_db(key.created_at)),
    )


async def set_private_key(tx: Transaction, kid: str, private_key: str) -> None:
    """Replace a key's stored private key (a PEM in clear by its sealed form, keeping its ``kid``)."""
    await tx.execute("UPDATE signing_keys SET private_key = ? WHERE kid = ?", (private_key, kid))


def _refresh_token(row: Row) -> RefreshToken:
    return RefreshToken(
        token_hash=row["token_hash"],
        grant=Grant(
            journey_id=row["journey_id"],
            issuer=row["issuer"],
            client_id=row["client_id"],
            subject=row["subject"],
            scope=parse_scope(row["scope"]),
            resource=row["resource"],
        ),
        issued_at=clock.from_db(row["issued_at"]),
        expires_at=clock.from_db(row["expires_at"]),
        rotated_at=clock.from_db(row["rotated_at"]) if row["rotated_at"] else None,
        revoked_at=clock.from_db(row["revoked_at"]) if row["revoked_at"] else None,
        successor_hash=row["successor_hash"],
        successor_sealed=row["successor_sealed"],
        dpop_jkt=row["dpop_jkt"],
    )
