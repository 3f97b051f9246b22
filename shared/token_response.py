"""The token endpoint's successful response (RFC 6749 §5.1, OAuth 2.1 §3.2.3)."""

from dataclasses import dataclass
from typing import Any, Self

from mcp_authz.shared.json_fields import as_object, optional_int, optional_str, required_str, without_none


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    token_type: str = "Bearer"
    #: RECOMMENDED: lifetime of the access token in seconds.
    expires_in: int | None = None
    refresh_token: str | None = None
    #: REQUIRED when the granted scope differs from the requested one; we always send it.
    scope: str | None = None
    #: RFC 8693 §2.2.1: REQUIRED in a token exchange response, the type of the token issued.
    issued_token_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return without_none(vars(self))  # flat: asdict's deep copy would buy nothing

    @classmethod
    def from_json(cls, data: object) -> Self:
        """Parse a received response; ``ValueError`` says what is wrong with it."""
        doc = as_object(data, "token response")
        token_type = required_str(doc, "token_type")
        if token_type.lower() not in ("bearer", "dpop"):  # DPoP: RFC 9449 §5
            raise ValueError(f"token_type {token_type!r} is neither Bearer nor DPoP")
        return cls(
            access_token=required_str(doc, "access_token"),
            token_type=token_type,
            expires_in=optional_int(doc, "expires_in"),
            refresh_token=optional_str(doc, "refresh_token"),
            scope=optional_str(doc, "scope"),
            issued_token_type=optional_str(doc, "issued_token_type"),
        )
