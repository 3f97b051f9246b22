"""SQL for the ``workload_issuers`` and ``workload_rules`` tables."""

import json

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Row, Transaction
from mcp_authz.authorization_server.workload_issuers.entities import WorkloadIssuer, WorkloadRule
from mcp_authz.shared.scopes import format_scope, parse_scope


async def add(tx: Transaction, issuer: WorkloadIssuer) -> None:
    await tx.execute(
        "INSERT INTO workload_issuers (name, issuer, jwks_uri, jwks, audiences, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            issuer.name,
            issuer.issuer,
            issuer.jwks_uri,
            json.dumps(issuer.jwks) if issuer.jwks is not None else None,
            " ".join(issuer.audiences),
            clock.to_db(issuer.created_at),
        ),
    )
    for position, rule in enumerate(issuer.rules):
        await tx.execute(
            "INSERT INTO workload_rules (issuer_name, position, claims, mcp_server_id, scopes) VALUES (?, ?, ?, ?, ?)",
            (
                issuer.name,
                position,
                json.dumps(dict(rule.claims)),
                rule.mcp_server_id,
                format_scope(rule.scopes) if rule.scopes is not None else None,
            ),
        )


async def remove(tx: Transaction, name: str) -> bool:
    """Delete the issuer and its rules (the foreign key cascades); ``False`` if there is none of that name."""
    return await tx.execute("DELETE FROM workload_issuers WHERE name = ?", (name,)) == 1


async def exists(tx: Transaction, name: str, issuer: str) -> bool:
    """Whether an issuer of this name, or of this ``iss``, is already there."""
    row = await tx.fetch_one("SELECT name FROM workload_issuers WHERE name = ? OR issuer = ?", (name, issuer))
    return row is not None


async def all(tx: Transaction) -> list[WorkloadIssuer]:
    return await _issuers(tx, await tx.fetch_all("SELECT * FROM workload_issuers ORDER BY name"))


async def by_issuer(tx: Transaction, issuer: str) -> WorkloadIssuer | None:
    found = await _issuers(tx, await tx.fetch_all("SELECT * FROM workload_issuers WHERE issuer = ?", (issuer,)))
    return found[0] if found else None


async def _issuers(tx: Transaction, rows: list[Row]) -> list[WorkloadIssuer]:
    issuers = []
    for row in rows:
        rules = await tx.fetch_all(
            "SELECT * FROM workload_rules WHERE issuer_name = ? ORDER BY position", (row["name"],)
        )
        issuers.append(
            WorkloadIssuer(
                name=row["name"],
                issuer=row["issuer"],
                jwks_uri=row["jwks_uri"],
                jwks=json.loads(row["jwks"]) if row["jwks"] is not None else None,
                audiences=tuple(row["audiences"].split()),
                rules=tuple(_rule(rule) for rule in rules),
                created_at=clock.from_db(row["created_at"]),
            )
        )
    return issuers


def _rule(row: Row) -> WorkloadRule:
    return WorkloadRule(
        claims=tuple(json.loads(row["claims"]).items()),
        mcp_server_id=row["mcp_server_id"],
        scopes=parse_scope(row["scopes"]) if row["scopes"] is not None else None,
    )
