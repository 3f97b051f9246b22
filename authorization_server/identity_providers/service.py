"""Identity providers: the operator's list, the people each vouches for, and sign-ins in progress (issue 16).

Every method that reads or writes takes the unit of work's transaction (``tx``). What must be
kept in clear for later, a sign-in's PKCE verifier and the interaction it continues, and a
``private_key_jwt`` key, is sealed with AES-256-GCM under ``key_encryption_key`` (the sealer of
the signing keys, decision 0027), the associated data naming the row and column; the ``state``
and the ``nonce`` are kept only as digests (``secrets_at_rest.py``).
"""

import re
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.encryption import Sealer
from mcp_authz.authorization_server.identity_providers import repository
from mcp_authz.authorization_server.identity_providers.entities import (
    AUTH_METHODS,
    ClaimRule,
    FederatedIdentity,
    IdentityProvider,
    UpstreamSignIn,
)
from mcp_authz.authorization_server.secrets_at_rest import digest, new_id, new_secret
from mcp_authz.shared.loopback import is_https_or_loopback_http
from mcp_authz.shared.pkce import new_verifier

#: The longest display name, characters ("Continue with DISPLAY_NAME").
MAX_DISPLAY_NAME = 64
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
_CLAIM_RULE = re.compile(r"([A-Za-z0-9_.:-]+)=(\S+)")


@dataclass(frozen=True)
class StartedSignIn:
    """What goes to the provider in the authorization request; kept here only as digests or sealed."""

    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)


def parse_claim_rules(text: str) -> tuple[ClaimRule, ...]:
    """``CLAIM=VALUE`` rules separated by spaces; ``ValueError`` names a malformed one."""
    rules = []
    for part in text.split():
        match = _CLAIM_RULE.fullmatch(part)
        if match is None:
            raise ValueError(f"{part!r} is not a claim rule CLAIM=VALUE, e.g. groups=mcp-users")
        rules.append(ClaimRule(match[1], match[2]))
    return tuple(rules)


def parse_domains(text: str) -> tuple[str, ...]:
    """Email domains separated by spaces or commas, lower-cased; ``ValueError`` names a malformed one."""
    domains = tuple(part.lower() for part in re.split(r"[\s,]+", text.strip()) if part)
    for domain in domains:
        if not _DOMAIN.fullmatch(domain):
            raise ValueError(f"{domain!r} is not a domain name such as example.com")
    return domains


def source_of(user_id: str, sources: dict[str, str]) -> str:
    """``local`` (a password kept here), or ``oidc:NAME`` for a user who signs in through provider NAME (issue 16);
    ``sources`` as :meth:`IdentityProviderService.sources` gives them."""
    provider = sources.get(user_id)
    return f"oidc:{provider}" if provider else "local"


class IdentityProviderService:
    """``sealer``: ``key_encryption_key``'s; ``None`` where nothing is sealed or opened (most commands)."""

    def __init__(self, sealer: Sealer | None, *, sign_in_ttl: int) -> None:
        self._sealer = sealer
        self._sign_in_ttl = sign_in_ttl

    def new_provider(
        self,
        *,
        name: str,
        issuer: str,
        client_id: str,
        auth_method: str,
        client_secret_env: str | None,
        scopes: tuple[str, ...],
        allowed_domains: tuple[str, ...] = (),
        claim_rules: tuple[ClaimRule, ...] = (),
        allow_private_network: bool = False,
        display_name: str | None = None,
    ) -> IdentityProvider:
        """A provider checked, to :meth:`add`; ``private_key_jwt`` gets a new P-256 key, sealed.

        ``allow_private_network``: its discovery and JWK Set may be on a private-use address (decision 0047).
        ``display_name``: the sign-in button's words, else the name. ``ValueError`` says what is wrong.
        """
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError("a provider's name is 1-32 lower-case letters, digits and -, e.g. acme")
        display_name = (display_name or "").strip() or None
        if display_name is not None and (len(display_name) > MAX_DISPLAY_NAME or not display_name.isprintable()):
            raise ValueError(f"a display name is at most {MAX_DISPLAY_NAME} printable characters, e.g. Acme SSO")
        if not is_https_or_loopback_http(issuer):
            raise ValueError("the issuer must be an https URL (OIDC Discovery §2)")
        if auth_method not in AUTH_METHODS:
            raise ValueError(f"the token endpoint authentication is one of {', '.join(AUTH_METHODS)}")
        if auth_method == "private_key_jwt":
            if client_secret_env:
                raise ValueError("private_key_jwt uses a key of this server's, not a client secret")
        elif not client_secret_env:
            raise ValueError(f"{auth_method} needs --client-secret-env VARIABLE, the variable holding the secret")
        if "openid" not in scopes:
            raise ValueError('the scopes must include "openid" (OIDC Core §3.1.2.1)')
        provider = IdentityProvider(
            id=new_id("idp"),
            name=name,
            issuer=issuer,
            client_id=client_id,
            auth_method=auth_method,
            client_secret_env=client_secret_env if auth_method != "private_key_jwt" else None,
            scopes=scopes,
            allowed_domains=allowed_domains,
            claim_rules=claim_rules,
            created_at=clock.now(),
            allow_private_network=allow_private_network,
            display_name=display_name,
        )
        if auth_method != "private_key_jwt":
            return provider
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        sealed = self._opener().seal(pem, _key_column(provider.id))
        return replace(provider, sealed_private_key=sealed, key_id=new_id("kid"))

    async def add(self, tx: Transaction, provider: IdentityProvider) -> IdentityProvider:
        """Store the provider; ``ValueError`` if the name is taken."""
        if await repository.named(tx, provider.name):
            raise ValueError(f"an identity provider named {provider.name!r} already exists")
        await repository.add(tx, provider)
        return provider

    async def all(self, tx: Transaction) -> list[IdentityProvider]:
        return await repository.all_providers(tx)

    async def user_counts(self, tx: Transaction) -> dict[str, int]:
        """provider id -> how many users sign in through it (what :meth:`remove` waits for)."""
        return await repository.identity_counts(tx)

    async def find(self, tx: Transaction, name: str) -> IdentityProvider | None:
        return await repository.named(tx, name)

    async def named(self, tx: Transaction, name: str) -> IdentityProvider:
        """The provider of that name; ``ValueError`` if there is none (the command line)."""
        found = await repository.named(tx, name)
        if found is None:
            raise ValueError(f"no identity provider named {name!r}")
        return found

    async def remove(self, tx: Transaction, name: str) -> None:
        """Forget the provider; refused while people sign in with it (remove them first: ``users remove``)."""
        provider = await self.named(tx, name)
        users = await repository.count_identities(tx, provider.id)
        if users:
            raise ValueError(f"{users} user(s) sign in with {name}: remove them first (users list, users remove)")
        await repository.delete(tx, provider.id)

    def private_key(self, provider: IdentityProvider) -> str:
        """The ``private_key_jwt`` key's PEM, opened (RFC 7523 §2.2)."""
        assert provider.sealed_private_key is not None
        return self._opener().open(provider.sealed_private_key, _key_column(provider.id))

    def public_jwk(self, provider: IdentityProvider) -> dict[str, object]:
        """The ``private_key_jwt`` key's public half as a JWK (RFC 7517 §4), to register at the provider."""
        key = serialization.load_pem_private_key(self.private_key(provider).encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        public: dict[str, object] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        public.update({"kid": provider.key_id, "use": "sig", "alg": "ES256"})
        return public

    async def start_sign_in(
        self, tx: Transaction, provider: IdentityProvider, journey_id: str, interaction_id: str
    ) -> StartedSignIn:
        """A new ``state``, ``nonce`` and PKCE verifier for one sign-in at ``provider``, bound to the journey."""
        started = StartedSignIn(new_secret(), new_secret(), new_verifier())
        state_hash = digest(started.state)
        sealer = self._opener()
        await repository.add_sign_in(
            tx,
            state_hash=state_hash,
            provider_id=provider.id,
            journey_id=journey_id,
            nonce_hash=digest(started.nonce),
            interaction_id=sealer.seal(interaction_id, f"upstream_sign_ins:{state_hash}:interaction_id"),
            code_verifier=sealer.seal(started.code_verifier, f"upstream_sign_ins:{state_hash}:code_verifier"),
            expires_at=clock.later(self._sign_in_ttl),
        )
        await repository.delete_expired_sign_ins(tx, clock.now())
        return started

    async def take_sign_in(self, tx: Transaction, state: str) -> UpstreamSignIn | None:
        """The sign-in this ``state`` was sent with, used up; ``None`` for a state unknown or already used."""
        state_hash = digest(state)
        sealed = await repository.take_sign_in(tx, state_hash)
        if sealed is None:
            return None
        sealer = self._opener()
        return UpstreamSignIn(
            provider_id=sealed.provider_id,
            journey_id=sealed.journey_id,
            nonce_hash=sealed.nonce_hash,
            interaction_id=sealer.open(sealed.interaction_id, f"upstream_sign_ins:{state_hash}:interaction_id"),
            code_verifier=sealer.open(sealed.code_verifier, f"upstream_sign_ins:{state_hash}:code_verifier"),
            expired=sealed.expires_at < clock.now(),
        )

    async def provider(self, tx: Transaction, provider_id: str) -> IdentityProvider | None:
        return await repository.by_id(tx, provider_id)

    async def identity(self, tx: Transaction, provider: IdentityProvider, sub: str) -> FederatedIdentity | None:
        """Who ``sub`` is at ``provider``, if they signed in before (OIDC Core §5.7: ``iss`` and ``sub`` together)."""
        return await repository.identity(tx, provider.id, sub)

    async def link(self, tx: Transaction, identity: FederatedIdentity) -> None:
        """Record the person's first sign-in through the provider, or their email and name as they are now."""
        if await repository.identity(tx, identity.provider_id, identity.sub) is None:
            await repository.add_identity(tx, identity)
        else:
            await repository.update_identity(tx, identity)

    async def sources(self, tx: Transaction) -> dict[str, str]:
        """user id -> the provider's name, for the users who sign in through one (``users list``)."""
        return await repository.sources(tx)

    def _opener(self) -> Sealer:
        if self._sealer is None:
            raise ValueError("key_encryption_key is not set: sign-ins through identity providers cannot be kept")
        return self._sealer


def _key_column(provider_id: str) -> str:
    return f"identity_providers:{provider_id}:private_key"
