"""The MCP server's settings: one frozen object, from the command line, ``MCP_*`` variables or a TOML file.

The option wins over the variable, which wins over the configuration file (``--config PATH`` or
``MCP_CONFIG``, docs/configuration.md), which wins over the default. The defaults work with
``python -m authorization_server --demo``: this server is the demo MCP server at
``http://localhost:8000/mcp``, and its issuer is ``http://localhost:9000/mcp/demo``.
"""

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mcp_authz.shared.config_file import not_a_setting, read_toml, wrong_type
from mcp_authz.shared.resource import canonical_resource
from mcp_authz.shared.scopes import parse_scope

#: Signature algorithms accepted on access tokens, fixed here and never read from the token
#: (RFC 8725 §2.1); RFC 9068 §4 requires RS256 and we also take what our AS can sign with.
ALGORITHMS = ("ES256", "EdDSA", "RS256")
#: The settings that bound slow clients, whole numbers greater than zero.
LIMITS = ("header_timeout", "body_timeout", "limit_concurrency")
#: The environment variable naming the configuration file, when ``--config`` does not.
CONFIG_ENV = "MCP_CONFIG"
#: The keys of the configuration file, the options' names, and their TOML types.
FILE_KEYS: dict[str, type] = {
    "host": str,
    "port": int,
    "resource": str,
    "auth_server": str,
    "scopes": str,
    "introspection_client_secret": str,
    "introspection_client_id": str,
    "downstream_api": str,
    "downstream_connection": str,
    "client_secret": str,
    "header_timeout": int,
    "body_timeout": int,
    "limit_concurrency": int,
    "dpop_nonce": bool,
    "name": str,
    "log_level": str,
    "log_format": str,
}
#: The settings ``--print-config`` masks (left out of the settings' ``repr`` too).
SECRETS = ("introspection_client_secret", "client_secret")


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    #: This server's resource identifier: the canonical URL of its MCP endpoint (RFC 8707 §2).
    resource: str
    #: The issuer whose tokens are accepted, compared exactly (RFC 9068 §4).
    auth_server: str
    #: The minimal scopes for basic use, published in the metadata (RFC 9728 §2).
    scopes: tuple[str, ...]
    name: str
    log_level: str
    #: ``text`` lines, or ``json``: one JSON object per line (issue 17, shared/json_log.py).
    log_format: str = "text"
    #: Introspection mode (RFC 7662): this server's id at the authorization server, and its secret.
    #: Without a secret, tokens are only checked locally (docs/decisions/0010).
    introspection_client_id: str | None = None
    introspection_client_secret: str | None = field(default=None, repr=False)
    #: The downstream API the ``downstream_profile`` tool calls (issue 4); no such tool without it.
    downstream_api: str | None = None
    #: The MCP connection (its name or id at the authorization server) whose provider protects that API.
    downstream_connection: str = "profile"
    #: Token exchange (RFC 8693): this server's credentials at the authorization server.
    client_secret: str | None = field(default=None, repr=False)
    #: Slow clients (docs/decisions/0029): seconds for a request's headers, seconds for its body
    #: (read by ``BearerAuth``), and connections and requests at once (503 beyond them).
    header_timeout: int = 10
    body_timeout: int = 10
    limit_concurrency: int = 1000
    #: Require a server nonce in DPoP proofs (RFC 9449 §9): a proof without it gets ``use_dpop_nonce``.
    dpop_nonce: bool = False

    @property
    def client_id(self) -> str | None:
        """This server's id at the authorization server, for introspection and token exchange alike."""
        return self.introspection_client_id

    @property
    def mcp_path(self) -> str:
        return urlsplit(self.resource).path or "/"


def load(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_server",
        description="The reference MCP server: tools over streamable HTTP, behind OAuth bearer tokens.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help=f"TOML file of settings, one key per option (docs/configuration.md); options and environment"
        f" variables win over it (env {CONFIG_ENV}, default none)",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the effective settings as TOML, secrets masked, and exit"
    )
    given = list(sys.argv[1:] if argv is None else argv)
    first, _ = parser.parse_known_args([arg for arg in given if arg not in ("-h", "--help")])
    path = first.config or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    try:
        from_file = read_config(path) if path is not None else {}
    except ValueError as exc:
        parser.exit(2, f"mcp_server: {exc}\n")

    def env(variable: str, default: Any = None) -> Any:
        """The variable's value, else the file's value for the same setting, else ``default``."""
        key = variable.removeprefix("MCP_").lower()
        return environ.get(variable, from_file.get(key, default))

    parser.add_argument(
        "--host", default=env("MCP_HOST", "127.0.0.1"), help="interface (env MCP_HOST, default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=int(env("MCP_PORT", "8000")), help="port (env MCP_PORT, default 8000)"
    )
    parser.add_argument(
        "--resource",
        default=env("MCP_RESOURCE"),
        help="this server's resource URL, as clients use it (env MCP_RESOURCE, default http://localhost:PORT/mcp)",
    )
    parser.add_argument(
        "--auth-server",
        default=env("MCP_AUTH_SERVER", "http://localhost:9000/mcp/demo"),
        help="issuer of the tokens this server accepts (env MCP_AUTH_SERVER, default http://localhost:9000/mcp/demo)",
    )
    parser.add_argument(
        "--scopes",
        default=env("MCP_SCOPES", "mcp:read"),
        help="scopes needed for basic use, published to clients (env MCP_SCOPES, default mcp:read)",
    )
    parser.add_argument(
        "--introspection-client-secret",
        default=env("MCP_INTROSPECTION_CLIENT_SECRET"),
        help="introspection mode: also ask the issuer about each token (RFC 7662) with this secret, from"
        " `mcp-servers credentials ID`; prefer the env MCP_INTROSPECTION_CLIENT_SECRET, which ps does not show",
    )
    parser.add_argument(
        "--introspection-client-id",
        default=env("MCP_INTROSPECTION_CLIENT_ID"),
        help="this MCP server's id at the authorization server (env MCP_INTROSPECTION_CLIENT_ID, default"
        " the ID of an issuer ending in /mcp/ID)",
    )
    parser.add_argument(
        "--downstream-api",
        default=env("MCP_DOWNSTREAM_API"),
        help="URL of a downstream API for the downstream_profile tool, reached with the user's token there,"
        " got by token exchange (RFC 8693) (env MCP_DOWNSTREAM_API, default none: no such tool)",
    )
    parser.add_argument(
        "--downstream-connection",
        default=env("MCP_DOWNSTREAM_CONNECTION", "profile"),
        help="the MCP connection whose provider protects that API (env MCP_DOWNSTREAM_CONNECTION, default profile)",
    )
    parser.add_argument(
        "--client-secret",
        default=env("MCP_CLIENT_SECRET"),
        help="this server's secret for token exchange, from `mcp-servers credentials ID`; prefer the env"
        " MCP_CLIENT_SECRET (default: the introspection secret)",
    )
    parser.add_argument(
        "--header-timeout",
        default=env("MCP_HEADER_TIMEOUT", "10"),
        help="seconds a connection has, from its start or its last answer, to send a request's headers; then 408"
        " (if it sent part of one) and the connection is closed (env MCP_HEADER_TIMEOUT, default 10)",
    )
    parser.add_argument(
        "--body-timeout",
        default=env("MCP_BODY_TIMEOUT", "10"),
        help="seconds the body of a POST to the MCP endpoint has to arrive; then 408 and the connection is closed"
        " (env MCP_BODY_TIMEOUT, default 10)",
    )
    parser.add_argument(
        "--limit-concurrency",
        default=env("MCP_LIMIT_CONCURRENCY", "1000"),
        help="open connections and requests in progress at most; beyond them 503 (env MCP_LIMIT_CONCURRENCY,"
        " default 1000)",
    )
    parser.add_argument(
        "--dpop-nonce",
        action="store_true",
        default=str(env("MCP_DPOP_NONCE", "")).lower() in ("1", "true", "yes", "on"),
        help="require a server nonce in DPoP proofs (RFC 9449 §9): a proof without the current one is answered"
        " 401 use_dpop_nonce with a DPoP-Nonce header (env MCP_DPOP_NONCE, default off)",
    )
    parser.add_argument("--name", default=env("MCP_NAME", "Demo MCP server"), help="name shown in the metadata")
    parser.add_argument(
        "--log-level", default=env("MCP_LOG_LEVEL", "info"), choices=("debug", "info", "warning", "error")
    )
    parser.add_argument(
        "--log-format",
        default=env("MCP_LOG_FORMAT", "text"),
        choices=("text", "json"),
        help="text: readable lines; json: one JSON object per line (time, level, logger, message)"
        " (env MCP_LOG_FORMAT, default text)",
    )
    args = parser.parse_args(given)
    resource = args.resource or f"http://localhost:{args.port}/mcp"
    try:
        if canonical_resource(resource) != resource:
            raise ValueError(f"write the resource in canonical form: {canonical_resource(resource)}")
        if canonical_resource(args.auth_server) != args.auth_server or args.auth_server.endswith("/"):
            raise ValueError(f"the issuer {args.auth_server!r} must be an absolute URL without a trailing slash")
        scopes = parse_scope(args.scopes)
        client_id = args.introspection_client_id or _mcp_server_id(args.auth_server)
        if args.introspection_client_secret and not client_id:
            raise ValueError("introspection mode needs --introspection-client-id: the issuer has no /mcp/ID path")
        client_secret = args.client_secret or args.introspection_client_secret
        if args.downstream_api and not (client_secret and client_id):
            raise ValueError("--downstream-api needs this server's credentials: --client-secret (and its id)")
        limits = {name: _positive(name, getattr(args, name)) for name in LIMITS}
    except ValueError as exc:
        parser.exit(2, f"mcp_server: {exc}\n")
    settings = Settings(
        host=args.host,
        port=args.port,
        resource=resource,
        auth_server=args.auth_server,
        scopes=scopes,
        name=args.name,
        log_level=args.log_level,
        log_format=args.log_format,
        introspection_client_id=client_id,
        introspection_client_secret=args.introspection_client_secret,
        downstream_api=args.downstream_api,
        downstream_connection=args.downstream_connection,
        client_secret=client_secret,
        dpop_nonce=bool(args.dpop_nonce),
        **limits,
    )
    if args.print_config:
        print(to_toml(settings), end="")
        parser.exit(0)
    return settings


def read_config(path: Path) -> dict[str, Any]:
    """The settings a TOML configuration file sets; ``ValueError`` in one line for an unknown key or a wrong type."""
    document = read_toml(path)
    for key, value in document.items():
        kind = FILE_KEYS.get(key)
        if kind is None:
            raise not_a_setting(path, key, FILE_KEYS)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise wrong_type(path, key, kind, value)
    if document.get("log_level", "info") not in ("debug", "info", "warning", "error"):
        raise ValueError(f"configuration file {path}: log_level must be one of debug, info, warning, error")
    if document.get("log_format", "text") not in ("text", "json"):
        raise ValueError(f"configuration file {path}: log_format must be one of text, json")
    return document


def to_toml(settings: Settings) -> str:
    """The effective settings as TOML that ``--config`` reads back; set secrets and unset settings are comments."""
    lines = ["# The effective settings of the MCP server (docs/configuration.md)."]
    for key in FILE_KEYS:
        value = getattr(settings, key)
        if isinstance(value, tuple):
            value = " ".join(value)
        if value is None:
            lines.append(f"# {key} = (unset)")
        elif isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif key in SECRETS:
            lines.append(f"# {key} = (set, masked: a secret; give it by MCP_{key.upper()})")
        else:
            lines.append(f"{key} = {value if isinstance(value, int) else json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _mcp_server_id(issuer: str) -> str | None:
    """The ``ID`` of an issuer ``…/mcp/ID``: the authorization server's name for this MCP server."""
    head, _, last = urlsplit(issuer).path.rpartition("/")
    return last if head.endswith("/mcp") and last else None


def _positive(name: str, raw: str | int) -> int:
    """A whole number greater than zero; ``ValueError`` naming the option otherwise."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"--{name.replace('_', '-')} must be a whole number greater than zero, not {raw!r}")
    return value
