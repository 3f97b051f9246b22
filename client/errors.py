"""Everything that stops a run: one class per failure class, each with its exit code.

A run that fails prints one line, ``error: <message>``, and exits with the code of its class;
never a traceback. Callers catch at the level they need::

    ClientError                     1    (the class itself: a bug in this client)
     ├── UsageError                 2    the command line is wrong
     ├── McpServerError             3    MCP server unreachable, not an MCP server, or discovery failed
     │                                   (no protected resource metadata, or metadata for another resource)
     ├── AuthorizationServerError   4    authorization server unreachable, or its metadata missing,
     │                                   for another issuer, without S256, or with unsafe endpoints
     ├── RegistrationError          5    dynamic client registration refused or impossible
     ├── AuthorizationError         6    authorization failed: access_denied, state or iss mismatch,
     │    │                              no callback in time
     │    └── NeedsPerson           6    ... a sign-in page met in --headless mode
     ├── TokenError                 7    the token endpoint refused a code or a refresh token,
     │                                   or the revocation endpoint a token
     │    └── InvalidClient         7    ... because it does not know the client (registered again once)
     ├── ToolCallError              8    the MCP server refused or failed a tool call
     │    ├── TokenRejected         8    ... with 401: it does not accept the access token (refreshed once)
     │    └── InsufficientScope     8    ... with 403 insufficient_scope (stepped up a bounded number of times)
     ├── StoreError                 9    the store file cannot be read or written
     └── StepOrderError            10    --step: an earlier step has not run yet (the message names it)

An interrupted run (Ctrl-C) exits with 130, like a shell.
"""

import re

INTERRUPTED_EXIT_CODE = 130
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_MAX_LENGTH = 400


def one_line(text: str) -> str:
    """``text`` on one line, without control characters, and not too long.

    Descriptions come from servers (``error_description``, pages): they are untrusted and must
    not break the one-line rule nor drive the terminal.
    """
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= _MAX_LENGTH else flat[: _MAX_LENGTH - 1] + "…"


def describe(exc: BaseException) -> str:
    """A transport error in words: its message, or its kind when it has none (timeouts)."""
    return one_line(str(exc)) or type(exc).__name__


class ClientError(Exception):
    """A failure the user can meet; ``str()`` is the one line shown to them."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class UsageError(ClientError):
    exit_code = 2


class McpServerError(ClientError):
    exit_code = 3


class AuthorizationServerError(ClientError):
    exit_code = 4


class RegistrationError(ClientError):
    exit_code = 5


class AuthorizationError(ClientError):
    exit_code = 6


class NeedsPerson(AuthorizationError):
    """``--headless`` met a sign-in or consent page: only a person can go on."""


class TokenError(ClientError):
    exit_code = 7


class InvalidClient(TokenError):
    """``invalid_client`` (RFC 6749 §5.2): the authorization server no longer knows this client."""


class ToolCallError(ClientError):
    exit_code = 8


class TokenRejected(ToolCallError):
    """A 401 from the MCP server with a token (RFC 6750 §3.1 ``invalid_token``)."""


class InsufficientScope(ToolCallError):
    """A 403 ``insufficient_scope`` from the MCP server (RFC 6750 §3.1); ``scope`` is what its challenge names."""

    def __init__(self, message: str, scope: tuple[str, ...]) -> None:
        super().__init__(message)
        self.scope = scope


class StoreError(ClientError):
    exit_code = 9


class StepOrderError(ClientError):
    """``--step`` met a step whose inputs no earlier step has stored; the message names that step."""

    exit_code = 10
