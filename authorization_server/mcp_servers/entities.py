"""What an MCP server is, to the authorization server."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: The id appears in URL paths (``/mcp/{id}``), so it is a plain slug.
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
#: The version is the last segment of the MCP registration path (``.../mcp/{id}/{version}``), bounded
#: so that a path cannot carry an arbitrary string into the journey rows (issue 11 item 15).
VERSION_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def is_version(value: str) -> bool:
    """Whether ``value`` may be an MCP server's version: at most 64 of ``A-Za-z0-9._-``, not ``.`` nor ``..``."""
    return bool(VERSION_PATTERN.fullmatch(value)) and value not in (".", "..")


@dataclass(frozen=True)
class McpServer:
    """A protected resource: the audience of the tokens issued for it (RFC 9068 §3)."""

    id: str
    name: str
    #: The canonical resource URI clients send as ``resource`` (RFC 8707 §2).
    resource: str
    #: Every scope the server understands; listed in its issuer's ``scopes_supported``.
    scopes: tuple[str, ...]
    #: Granted when an authorization request names no scope (RFC 6749 §3.3).
    default_scopes: tuple[str, ...]
    #: Advertised in the MCP registration endpoint; accepted there, not checked yet.
    version: str
    created_at: datetime
    #: Digest of the secret it introspects tokens with (RFC 7662 §2.1); ``None`` until one is set.
    secret_hash: str | None = None
    #: What a scope lets a client do, in words a person reads on the consent page (issue 17):
    #: pairs of scope and text, in the order of ``scopes``; a scope without one shows as itself.
    scope_descriptions: tuple[tuple[str, str], ...] = ()

    def describe(self, scope: str) -> str | None:
        """The human description of ``scope``, if the operator gave one."""
        return dict(self.scope_descriptions).get(scope)


@dataclass(frozen=True)
class McpConnection:
    """A downstream OAuth provider that one MCP server's tools need (seed 000, issue 4).

    The provider is found either through its ``issuer`` (RFC 8414 discovery) or through its
    ``authorization_endpoint`` and ``token_endpoint``; exactly one of the two is set.
    """

    id: str
    mcp_server_id: str
    name: str
    issuer: str | None
    authorization_endpoint: str | None
    token_endpoint: str | None
    #: The client this authorization server is at the provider.
    client_id: str
    #: The environment variable holding that client's secret; ``None`` for a public client.
    client_secret_env: str | None
    scopes: tuple[str, ...]
    created_at: datetime
    #: The provider's resource its tokens are for, sent as ``resource`` (RFC 8707); ``None`` to send none.
    resource: str | None = None


@dataclass(frozen=True)
class TrustedIdentityProvider:
    """An enterprise identity provider whose ID-JAGs one MCP server's issuer accepts (SEP-990, decision 0049).

    Its keys are ``jwks`` (a JWK Set the operator gave) or fetched from ``jwks_uri``; exactly one
    of the two is set. Only the clients in ``client_ids`` may present its assertions here.
    """

    mcp_server_id: str
    issuer: str
    jwks_uri: str | None
    jwks: dict[str, Any] | None
    client_ids: tuple[str, ...]
    created_at: datetime
