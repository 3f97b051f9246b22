"""The console's workload issuers page.

- ``GET|POST /admin/workload-issuers``: the issuers of workload JWTs trusted at the jwt-bearer grant and their
  rules (SEP-1933, docs/decisions/0051); trust one (``workload-issuers add``: each rule's MCP server and scopes
  checked by ``WorkloadIssuerService``), remove one, confirmed (``workload-issuers remove``).
"""

from dataclasses import fields

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.admin.console.workload_issuers import WorkloadIssuerFields
from mcp_authz.authorization_server.admin.endpoints.shared import acting_page, add_or_remove, console_page, page
from mcp_authz.authorization_server.routes import ADMIN_WORKLOAD_ISSUERS_PATH
from mcp_authz.authorization_server.services import Services
from mcp_authz.authorization_server.web.params import Params, query_params

#: The "trust a workload issuer" form's fields, named as ``WorkloadIssuerFields``' attributes.
WORKLOAD_ISSUER_FIELDS = tuple(field.name for field in fields(WorkloadIssuerFields))


@console_page
async def workload_issuers(request: Request, found: Services, session: str | None) -> Response:
    """The trusted workload issuers and their rules (``workload-issuers list``); trust one (``add``), remove one
    (``remove``, confirmed): its workloads' JWTs are refused from then on (SEP-1933, docs/decisions/0051)."""
    console = found.workload_issuer_console

    async def act(form: Params) -> str:
        async def add() -> str:
            typed = {name: form.get(name) or "" for name in WORKLOAD_ISSUER_FIELDS}
            return (await console.add(WorkloadIssuerFields(**typed))).name

        return await add_or_remove(form, ADMIN_WORKLOAD_ISSUERS_PATH, add=add, remove=console.remove)

    async def show() -> Response:
        query = query_params(request)
        added, removed = query.get("added"), query.get("removed")
        done = None
        if added:
            done = f"Trusted workload issuer {added}: its workloads' JWTs get tokens under its rules."
        elif removed:
            done = f"Removed workload issuer {removed}; tokens issued to its workloads live until they expire."
        return page(request, session, "admin_workload_issuers.html", issuers=await console.list(), done=done)

    return await acting_page(request, found, session, act, show)
