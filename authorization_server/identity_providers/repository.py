"""SQL for the ``identity_providers``, ``federated_identities`` and ``upstream_sign_ins`` tables."""

from datetime import datetime

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Row, Transaction
from mcp_authz.authorization_server.identity_providers.entities import (
    ClaimRule,
    FederatedIdentity,
    IdentityProvider,
    SealedSignIn,
)
from mcp_authz.shared.scopes import format_scope, parse_scope


async def add(tx: Transaction, provider: IdentityProvider) -> None:
    await tx.execute(
        "INSERT INTO identity_providers (id, name, issuer, client_id, auth_method, client_secret_env, private_key,"
        " key_id, scopes, allowed_domains, claim_rules, created_at, allow_private_network, display_name)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            provider.id,
            provider.name,
            provider.issuer,
            provider.client_id,
            provider.auth_method,
            provider.client_secret_env,
            provider.sealed_private_key,
            provider.key_id,
            format_scope(provider.scopes),
            " ".join(provider.allowed_domains),
            " ".join(str(rule) for rule in provider.claim_rules),
            clock.to_db(provider.created_at),
            int(provider.allow_private_network),
            provider.display_name,
        ),
    )


async def all_providers(tx: Transaction) -> list[IdentityProvider]:
    return [_provider(row) for row in await tx.fetch_all("SELECT * FROM identity_providers ORDER BY name")]


async def named(tx: Transaction, name: str) -> IdentityProvider | None:
    row = await tx.fetch_one("SELECT * FROM identity_providers WHERE name = ?", (name,))
    return _provider(row) if row else None


async def by_id(tx: Transaction, provider_id: str) -> IdentityProvider | None:
    row = await tx.fetch_one("SELECT * FROM identity_providers WHERE id = ?", (provider_id,))
    return _provider(row) if row else None


async def delete(tx: Transaction, provider_id: str) -> None:
    await tx.execute("DELETE FROM identity_providers WHERE id = ?", (provider_id,))


async def count_identities(tx: Transaction, provider_id: str) -> int:
    row = await tx.fetch_one("SELECT COUNT(*) AS n FROM federated_identities WHERE provider_id = ?", (provider_id,))
    return int(row["n"]) if row else 0


async def identity(tx: Transaction, provider_id: str, sub: str) -> FederatedIdentity | None:
    row = await tx.fetch_one("SELECT * FROM federated_identities WHERE provider_id = ? AND sub = ?", (provider_id, sub))
    return _identity(row) if row else None


async def add_identity(tx: Transaction, identity: FederatedIdentity) -> None:
    now = clock.to_db(clock.now())
    await tx.execute(
        "INSERT INTO federated_identities (provider_id, sub, user_id, email, name, created_at, signed_in_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (identity.provider_id, identity.sub, identity.user_id, identity.email, identity.name, now, now),
    )


async def update_identity(tx: Transaction, identity: FederatedIdentity) -> None:
    """The email and name as the provider says them now, and the time of this sign-in."""
    await tx.execute(
        "UPDATE federated_identities SET email = ?, name = ?, signed_in_at = ? WHERE provider_id = ? AND sub = ?",
        (identity.email, identity.name, clock.to_db(clock.now()), identity.provider_id, identity.sub),
    )


async def identity_counts(tx: Transaction) -> dict[str, int]:
    """provider id -> how many users sign in through it."""
    rows = await tx.fetch_all("SELECT provider_id, COUNT(*) AS n FROM federated_identities GROUP BY provider_id")
    return {row["provider_id"]: int(row["n"]) for row in rows}


async def sources(tx: Transaction) -> dict[str, str]:
    """user id -> the name of the provider the user signs in with."""
    rows = await tx.fetch_all(
        "SELECT federated_identities.user_id, identity_providers.name FROM federated_identities"
        " JOIN identity_providers ON identity_providers.id = federated_identities.provider_id"
    )
    return {row["user_id"]: row["name"] for row in rows}


async def add_sign_in(
    tx: Transaction,
    *,
    state_hash: str,
    provider_id: str,
    journey_id: str,
    nonce_hash: str,
    interaction_id: bytes,
    code_verifier: bytes,
    expires_at: datetime,
) -> None:
    await tx.execute(
        "INSERT INTO upstream_sign_ins (state_hash, provider_id, journey_id, nonce_hash, interaction_id,"
        " code_verifier, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            state_hash,
            provider_id,
            journey_id,
            nonce_hash,
            interaction_id,
            code_verifier,
            clock.to_db(clock.now()),
            clock.to_db(expires_at),
        ),
    )


async def take_sign_in(tx: Transaction, state_hash: str) -> SealedSignIn | None:
    """The sign-in of this state, deleted as it is read: a state is used once."""
    row = await tx.fetch_one("SELECT * FROM upstream_sign_ins WHERE state_hash = ?", (state_hash,))
    if row is None:
        return None
    await tx.execute("DELETE FROM upstream_sign_ins WHERE state_hash = ?", (state_hash,))
    return SealedSignIn(
        provider_id=row["provider_id"],
        journey_id=row["journey_id"],
        nonce_hash=row["nonce_hash"],
        interaction_id=row["interaction_id"],
        code_verifier=row["code_verifier"],
        expires_at=clock.from_db(row["expires_at"]),
    )


async def delete_expired_sign_ins(tx: Transaction, before: datetime) -> int:
    return await tx.execute("DELETE FROM upstream_sign_ins WHERE expires_at < ?", (clock.to_db(before),))


def _provider(row: Row) -> IdentityProvider:
    rules = []
    for text in row["claim_rules"].split():
        claim, _, value = text.partition("=")
        rules.append(ClaimRule(claim, value))
    return IdentityProvider(
        id=row["id"],
        name=row["name"],
        issuer=row["issuer"],
        client_id=row["client_id"],
        auth_method=row["auth_method"],
        client_secret_env=row["client_secret_env"],
        scopes=parse_scope(row["scopes"]),
        allowed_domains=tuple(row["allowed_domains"].split()),
        claim_rules=tuple(rules),
        created_at=clock.from_db(row["created_at"]),
        sealed_private_key=row["private_key"],
        key_id=row["key_id"],
        allow_private_network=bool(row["allow_private_network"]),
        display_name=row["display_name"],
    )


def _identity(row: Row) -> FederatedIdentity:
    return FederatedIdentity(row["provider_id"], row["sub"], row["user_id"], row["email"], row["name"])
