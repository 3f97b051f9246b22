"""What one step of ``--step`` leaves in the store for the next (client/stepwise.py).

Each value is a JSON object under ``progress[SERVER_URL][STEP]`` in the store. The registration
and the tokens are not here: they live where a full run keeps them too (client/store.py).
"""

import time
from dataclasses import asdict
from typing import Any

from mcp_authz.client.authorization import PendingAuthorization
from mcp_authz.shared.json_fields import optional_int, optional_str_list, required_str


def discovered(
    resource: str, issuer: str, scope: tuple[str, ...] | None, reason: str, *, legacy: bool = False
) -> dict[str, Any]:
    """Step 1: the resource, the issuer it names, and the scope to ask for (CL-15); ``legacy`` when the
    server publishes no protected resource metadata (a 2025-03-26 server)."""
    fields = {"resource": resource, "issuer": issuer, "scope": list(scope) if scope else None, "scope_reason": reason}
    return fields | ({"legacy": True} if legacy else {})


def read_discovered(fields: dict[str, Any]) -> tuple[str, str, tuple[str, ...] | None, str, bool]:
    return (
        required_str(fields, "resource"),
        required_str(fields, "issuer"),
        optional_str_list(fields, "scope"),
        required_str(fields, "scope_reason"),
        fields.get("legacy") is True,
    )


def authorized(pending: PendingAuthorization, code: str) -> dict[str, Any]:
    """Step 4: the code, with what it is bound to (CL-20) and when it arrived."""
    fields = asdict(pending)
    fields["scope"] = list(pending.scope) if pending.scope else None
    return fields | {"code": code, "received_at": int(time.time())}


def read_authorized(fields: dict[str, Any]) -> tuple[PendingAuthorization, str, int]:
    """The pending request, its code, and the code's age in seconds."""
    pending = PendingAuthorization(
        issuer=required_str(fields, "issuer"),
        resource=required_str(fields, "resource"),
        client_id=required_str(fields, "client_id"),
        redirect_uri=required_str(fields, "redirect_uri"),
        scope=optional_str_list(fields, "scope"),
        state=required_str(fields, "state"),
        code_verifier=required_str(fields, "code_verifier"),
    )
    received_at = optional_int(fields, "received_at") or 0
    return pending, required_str(fields, "code"), int(time.time()) - received_at
