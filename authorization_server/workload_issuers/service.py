"""The workload issuers the operator trusts and their rules (SEP-1933, a draft; docs/decisions/0051)."""

import re
from typing import Any

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.mcp_servers.service import McpServerService
from mcp_authz.authorization_server.workload_issuers import repository
from mcp_authz.authorization_server.workload_issuers.entities import WorkloadIssuer, WorkloadRule
from mcp_authz.shared.loopback import is_https_or_loopback_http
from mcp_authz.shared.scopes import parse_scope

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CLAIM = re.compile(r"([^\s=,]{1,64})=([^,]{1,256})")
_SERVER_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def parse_rule(text: str) -> WorkloadRule:
    """``CLAIM=VALUE[,CLAIM=VALUE...] -> MCP_SERVER_ID [scopes=A B]``, or ``* -> ...`` for every workload.

    ``ValueError`` says what is malformed.
    """
    example = "e.g. 'repository=acme/deploy,ref=refs/heads/main -> demo scopes=mcp:read'"
    condition, arrow, target = text.partition("->")
    if not arrow:
        raise ValueError(f"the rule {text!r} has no '->': {example}")
    condition = condition.strip()
    claims: list[tuple[str, str]] = []
    if condition != "*":
        for part in condition.split(","):
            match = _CLAIM.fullmatch(part.strip())
            if match is None:
                raise ValueError(f"{part.strip()!r} in the rule {text!r} is not CLAIM=VALUE: {example}")
            claims.append((match[1], match[2].strip()))
        if len({name for name, _ in claims}) != len(claims):
            raise ValueError(f"the rule {text!r} names a claim twice")
    server_id, _, rest = target.strip().partition(" ")
    if not _SERVER_ID.fullmatch(server_id):
        raise ValueError(f"the rule {text!r} must name an MCP server id after '->': {example}")
    rest = rest.strip()
    scopes = None
    if rest:
        if not rest.startswith("scopes="):
            raise ValueError(f"after the MCP server the rule {text!r} takes only scopes=A B: {example}")
        scopes = parse_scope(rest.removeprefix("scopes="))
        if not scopes:
            raise ValueError(f"the rule {text!r} says scopes= but names none")
    return WorkloadRule(claims=tuple(claims), mcp_server_id=server_id, scopes=scopes)


class WorkloadIssuerService:
    def __init__(self, mcp_servers: McpServerService) -> None:
        self._mcp_servers = mcp_servers

    async def add(
        self,
        tx: Transaction,
        *,
        name: str,
        issuer: str,
        rules: list[WorkloadRule],
        audiences: list[str],
        jwks_uri: str | None = None,
        jwks: dict[str, Any] | None = None,
    ) -> WorkloadIssuer:
        """Trust ``issuer``'s workload JWTs under ``rules``. ``jwks`` must already be a checked public JWK Set.

        Without ``jwks_uri`` or ``jwks`` the keys are found by OpenID Connect Discovery at the issuer
        (SEP-1933 steps 2-7), which must then be an https URL. Each rule must name an MCP server that exists
        and, if it limits the scopes, scopes that server offers (RFC 6749 §3.3). ``ValueError`` says what is
        wrong, and then nothing was written.
        """
        if not _NAME.fullmatch(name):
            raise ValueError("--name must be a slug: lower-case letters, digits and '-', e.g. github-actions")
        if not issuer.strip() or issuer != issuer.strip():
            raise ValueError("--issuer must be the workload issuer's identifier, exactly as in its JWTs' iss")
        if jwks_uri is not None and jwks is not None:
            raise ValueError("give the issuer's keys as --jwks-uri or --jwks-file, not both")
        if jwks_uri is not None and not is_https_or_loopback_http(jwks_uri):
            raise ValueError("--jwks-uri must be an https URL (http only on loopback)")
        if jwks_uri is None and jwks is None and not is_https_or_loopback_http(issuer):
            raise ValueError(
                "without --jwks-uri or --jwks-file the keys are found by OpenID Connect Discovery:"
                " --issuer must then be an https URL"
            )
        if not rules:
            raise ValueError("give at least one --rule: without one no workload of this issuer gets anything")
        if any(not audience.strip() or " " in audience for audience in audiences):
            raise ValueError("--audience must be one aud value without spaces")
        await self._check_rules(tx, rules)
        if await repository.exists(tx, name, issuer):
            raise ValueError(f"a workload issuer named {name!r} or with the issuer {issuer!r} is already there")
        trusted = WorkloadIssuer(
            name=name,
            issuer=issuer,
            jwks_uri=jwks_uri,
            jwks=jwks,
            audiences=tuple(dict.fromkeys(audiences)),
            rules=tuple(rules),
            created_at=clock.now(),
        )
        await repository.add(tx, trusted)
        return trusted

    async def _check_rules(self, tx: Transaction, rules: list[WorkloadRule]) -> None:
        """Every rule names an existing MCP server, and only scopes it offers."""
        for rule in rules:
            server = await self._mcp_servers.get(tx, rule.mcp_server_id)
            if server is None:
                raise ValueError(f"no MCP server with id {rule.mcp_server_id!r} (rule {rule})")
            unknown = [scope for scope in rule.scopes or () if scope not in server.scopes]
            if unknown:
                raise ValueError(f"MCP server {server.id} has no scope {' '.join(unknown)} (rule {rule})")

    async def remove(self, tx: Transaction, name: str) -> None:
        """Stop accepting the issuer's JWTs; tokens already issued live until they expire."""
        if not await repository.remove(tx, name):
            raise ValueError(f"no workload issuer named {name!r}")

    async def all(self, tx: Transaction) -> list[WorkloadIssuer]:
        return await repository.all(tx)

    async def by_issuer(self, tx: Transaction, issuer: str) -> WorkloadIssuer | None:
        """The trusted issuer whose identifier is exactly ``issuer`` (a JWT's ``iss``), if any."""
        return await repository.by_issuer(tx, issuer)
