"""The workload issuers page's use cases: ``workload-issuers list|add|remove`` (``WorkloadIssuerService``,
SEP-1933, docs/decisions/0051).
"""

from dataclasses import dataclass

from mcp_authz.authorization_server.admin.console.shared import form_jwks, or_not_found
from mcp_authz.authorization_server.db import Database
from mcp_authz.authorization_server.errors import InvalidRequest
from mcp_authz.authorization_server.workload_issuers.entities import WorkloadIssuer
from mcp_authz.authorization_server.workload_issuers.service import WorkloadIssuerService, parse_rule


@dataclass(frozen=True)
class WorkloadIssuerFields:
    """The console's "trust a workload issuer" form, as typed (``workload-issuers add``'s options); empty is absent."""

    name: str = ""
    issuer: str = ""
    jwks_uri: str = ""
    #: A public JWK Set as JSON (``--jwks-file``'s content).
    jwks: str = ""
    #: Extra ``aud`` values, space-separated (``--audience``, repeated).
    audiences: str = ""
    #: One ``--rule`` a line.
    rules: str = ""


class WorkloadIssuerConsole:
    """``workload-issuers list|add|remove`` for the console (SEP-1933, a draft; docs/decisions/0051), through
    ``WorkloadIssuerService``, which checks each rule's MCP server and scopes."""

    def __init__(self, db: Database, *, workload_issuers: WorkloadIssuerService) -> None:
        self._db = db
        self._workload_issuers = workload_issuers

    async def list(self) -> list[WorkloadIssuer]:
        return await self._db.run(self._workload_issuers.all)

    async def add(self, fields: WorkloadIssuerFields) -> WorkloadIssuer:
        """``workload-issuers add``: the rules parsed, the JWK Set checked (RFC 7517 §5, public keys only), then
        stored in one unit of work; ``InvalidRequest`` says what is wrong, and then nothing was written."""
        service = self._workload_issuers
        try:
            rules = [parse_rule(line.strip()) for line in fields.rules.splitlines() if line.strip()]
            jwks = form_jwks(fields.jwks)
            return await self._db.run(
                lambda tx: service.add(
                    tx,
                    name=fields.name.strip(),
                    issuer=fields.issuer.strip(),
                    rules=rules,
                    audiences=fields.audiences.split(),
                    jwks_uri=fields.jwks_uri.strip() or None,
                    jwks=jwks,
                )
            )
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def remove(self, name: str) -> None:
        """``workload-issuers remove``: its JWTs are refused from now on; tokens already issued live until they
        expire. ``NotFound`` if there is none."""
        await or_not_found(self._db.run(lambda tx: self._workload_issuers.remove(tx, name)))
