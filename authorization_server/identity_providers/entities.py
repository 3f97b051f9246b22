"""Identity providers, the federated identities they vouch for, and sign-ins in progress (issue 16)."""

from dataclasses import dataclass, field
from datetime import datetime

#: How this server authenticates at a provider's token endpoint (OIDC Core §9).
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")


@dataclass(frozen=True)
class ClaimRule:
    """A claim the ID token must carry with this value (a string, or a list holding it: a group, say)."""

    claim: str
    value: str

    def holds(self, claims: dict[str, object]) -> bool:
        found = claims.get(self.claim)
        if isinstance(found, list):
            return self.value in [str(item) for item in found]
        return found is not None and str(found) == self.value

    def __str__(self) -> str:
        return f"{self.claim}={self.value}"


@dataclass(frozen=True)
class IdentityProvider:
    """An upstream OpenID provider this server is a client of (OIDC Core §3.1, OIDC Discovery §4)."""

    id: str
    #: A slug: "Continue with NAME", and the provider's own callback path (a mix-up defence, RFC 9700 §4.4.2).
    name: str
    issuer: str
    client_id: str
    auth_method: str
    #: The NAME of the environment variable holding the client secret (decision 0013), never the secret.
    client_secret_env: str | None
    scopes: tuple[str, ...]
    #: Email domains allowed to sign in (the ``email`` claim, verified); empty: any.
    allowed_domains: tuple[str, ...]
    #: Claims the ID token must carry, all of them.
    claim_rules: tuple[ClaimRule, ...]
    created_at: datetime
    #: ``private_key_jwt``: the private key's PEM sealed under ``key_encryption_key``, and its kid.
    sealed_private_key: bytes | None = field(default=None, repr=False)
    key_id: str | None = None
    #: The operator admits discovery and JWK Set fetches to private-network addresses (RFC 1918, RFC 4193)
    #: for this provider only: an in-house provider (decision 0047; RFC 9700 §4.15, SSRF).
    allow_private_network: bool = False
    #: The words of the sign-in button, "Continue with DISPLAY_NAME"; ``None``: the name.
    display_name: str | None = None

    @property
    def label(self) -> str:
        """What the sign-in page's button calls the provider: the display name, else the name in capitals."""
        return self.display_name or self.name.upper()

    def refusal(self, claims: dict[str, object]) -> str | None:
        """Why this person may not sign in here (the allow-list of domains, the claim rules), or ``None``."""
        if self.allowed_domains:
            email = claims.get("email")
            if not isinstance(email, str) or "@" not in email:
                return "the provider did not say your email address, which this server needs to let you in"
            if claims.get("email_verified") is False:
                return "the provider says your email address is not verified"
            domain = email.rsplit("@", 1)[1].lower()
            if domain not in self.allowed_domains:
                return f"accounts of {domain} may not sign in here"
        for rule in self.claim_rules:
            if not rule.holds(claims):
                return f"your account at {self.name} lacks {rule}"
        return None


@dataclass(frozen=True)
class FederatedIdentity:
    """A person as one provider knows them: keyed by (provider, ``sub``), OIDC Core §5.7; email and name shown only."""

    provider_id: str
    sub: str
    user_id: str
    email: str | None
    name: str | None


@dataclass(frozen=True)
class SealedSignIn:
    """A sign-in in progress as its row keeps it: the interaction and the PKCE verifier still sealed, each bound
    to its row and column (``IdentityProviderService`` opens them)."""

    provider_id: str
    journey_id: str
    nonce_hash: str
    interaction_id: bytes = field(repr=False)
    code_verifier: bytes = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class UpstreamSignIn:
    """A sign-in sent to a provider, taken back once by its ``state`` (RFC 9700 §4.7, OIDC Core §3.1.2.1)."""

    provider_id: str
    journey_id: str
    nonce_hash: str
    interaction_id: str = field(repr=False)
    code_verifier: str = field(repr=False)
    expired: bool
