"""``python client.py servers``: what the store holds, one line per server, without any secret.

Each line names the server (the resource its tokens are for), the issuer, the client ID and how
it was obtained, when the access token expires, and the scope granted. A registration without
tokens is listed too. Tokens, refresh tokens and client secrets are never shown (CL-28).
"""

from mcp_authz.client.store import Store

COLUMNS = ("SERVER", "ISSUER", "CLIENT ID", "EXPIRES", "SCOPE")


def servers(store: Store, now: float) -> list[str]:
    """The lines to print, a header first; one line saying so when the store is empty."""
    kinds = {registration.issuer: registration.kind for registration in store.registrations()}
    rows = [
        (
            held.resource,
            held.issuer,
            f"{held.client_id} ({kinds.get(held.issuer, 'unknown')})",
            _expiry(held.expires_at, now),
            held.scope or "(as asked)",
        )
        for held in store.all_tokens()
    ]
    with_tokens = {held.issuer for held in store.all_tokens()}
    rows += [
        ("(no tokens)", registration.issuer, f"{registration.client_id} ({registration.kind})", "-", "-")
        for registration in store.registrations()
        if registration.issuer not in with_tokens
    ]
    if not rows:
        return [f"nothing is stored in {store.path}"]
    widths = [max(len(row[column]) for row in [COLUMNS, *rows]) for column in range(len(COLUMNS) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in [COLUMNS, *rows]
    ]


def _expiry(expires_at: int | None, now: float) -> str:
    if expires_at is None:
        return "not said"
    left = expires_at - int(now)
    return f"in {left} s" if left > 0 else "expired"
