"""SQL for the ``clients`` table."""

import json

from authorization_server import clock
from authorization_server.clients.entities import Client
from authorization_server.db import Row, Transaction


async def add(tx: Transaction, client: Client) -> None:
    await tx.execute(
        "INSERT INTO clients (client_id, issuer, client_secret_hash, client_secret_expires_at,"
        " token_endpoint_auth_method, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            client.client_id,
            client.issuer,
            client.secret_hash,
            client.secret_expires_at,
            client.token_endpoint_auth_method,
            json.dumps(client.metadata),
            clock.to_db(client.created_at),
        ),
    )


async def get(tx: Transaction, client_id: str) -> Client | None:
    row = await tx.fetch_one("SELECT * FROM clients WHERE client_id = ?", (client_id,))
    return _client(row) if row else None


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
    )
