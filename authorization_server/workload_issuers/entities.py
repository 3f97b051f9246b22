"""Trusted workload issuers and their rules (workload identity federation, MCP SEP-1933 draft; decision 0051)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class WorkloadRule:
    """Workloads whose claims all have these values may get tokens for one MCP server, with at most these scopes.

    A claim holds a value when it is that string (a number or boolean compared as its JSON text), or a
    list holding it. No claims at all (``*`` on the command line): every workload of the issuer.
    """

    claims: tuple[tuple[str, str], ...]
    mcp_server_id: str
    #: ``None``: the MCP server's default scopes.
    scopes: tuple[str, ...] | None

    def holds(self, claims: dict[str, Any]) -> bool:
        return all(_has(claims.get(name), value) for name, value in self.claims)

    def __str__(self) -> str:
        condition = ",".join(f"{name}={value}" for name, value in self.claims) or "*"
        scopes = f" scopes={' '.join(self.scopes)}" if self.scopes is not None else ""
        return f"{condition} -> {self.mcp_server_id}{scopes}"


@dataclass(frozen=True)
class WorkloadIssuer:
    """An issuer of workload JWTs this server accepts at the jwt-bearer grant (RFC 7523 §2.1, SEP-1933)."""

    #: The operator's slug; journeys and workload clients name it.
    name: str
    #: Compared exactly with the JWT's ``iss``.
    issuer: str
    #: Where its keys are: a ``jwks_uri``, or the keys themselves; neither: OpenID Connect Discovery at ``issuer``.
    jwks_uri: str | None
    jwks: dict[str, Any] | None
    #: ``aud`` values accepted besides this server's issuer and token endpoint (a platform's fixed audience).
    audiences: tuple[str, ...]
    rules: tuple[WorkloadRule, ...]
    created_at: datetime


def _has(found: object, value: str) -> bool:
    if isinstance(found, list):
        return any(_text(item) == value for item in found)
    return found is not None and _text(found) == value


def _text(found: object) -> str:
    if isinstance(found, bool):
        return "true" if found else "false"
    return str(found)
