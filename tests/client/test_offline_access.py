"""CL-16, MCP Refresh Tokens (SEP-2207): the client asks for offline_access only where the authorization
server's metadata lists it (CONF ``auth/offline-access-scope``, ``auth/offline-access-not-supported``).

The fake MCP server refuses every token, so each run stops at step 6 with exit code 8; the
authorization request was made before.
"""

from pathlib import Path

import pytest

from tests.client.fake_stack import FakeStack
from tests.client.running import run_client


@pytest.mark.parametrize(
    ("as_scopes_supported", "asked"),
    [
        (["mcp:read", "offline_access"], "mcp:read offline_access"),
        (["mcp:read"], "mcp:read"),
        (None, "mcp:read"),
    ],
)
def test_offline_access_is_asked_for_where_the_authorization_server_lists_it(
    tmp_path: Path, fake: FakeStack, as_scopes_supported: list[str] | None, asked: str
) -> None:
    """CL-16: the challenge's scope, with offline_access added only when the AS's scopes_supported has it."""
    fake.reset(as_scopes_supported=as_scopes_supported)
    run = run_client(fake.mcp_url, tmp_path / "store.json", "--headless")
    assert run.exit_code == 8, run.describe()
    assert fake.authorized_scopes == [asked]
