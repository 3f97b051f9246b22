"""The authorization server's settings: one frozen object, built once at the edge and passed in.

Every setting has a default, an environment variable, a command-line option and a key of the
configuration file (TOML, ``--config PATH`` or ``AS_CONFIG``): the option wins over the variable,
which wins over the file, which wins over the default (docs/configuration.md). This module is the
only one that reads the environment and the configuration file.
"""

import argparse
import importlib.util
import ipaddress
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mcp_authz.authorization_server.db import PoolOptions, parse_target, shown
from mcp_authz.authorization_server.encryption import parse_key
from mcp_authz.shared.config_file import not_a_setting, read_toml, wrong_type
from mcp_authz.shared.loopback import is_https_or_loopback_http, is_loopback_host

_RATE = re.compile(r"(\d+)/(\d*)(s|min|h)")
_UNITS = {"s": 1, "min": 60, "h": 3600}


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``seconds``, written ``COUNT/[N]UNIT``: ``60/min``, ``60/10min``, ``5/30s``."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Rate":
        match = _RATE.fullmatch(text.strip())
        if match is None or int(match[1]) == 0 or match[2] == "0":
            raise ValueError(f"{text!r} is not a rate such as 60/min, 60/10min or 5/30s")
        return cls(int(match[1]), int(match[2] or 1) * _UNITS[match[3]])


SIGNING_ALGORITHMS = ("ES256", "EdDSA", "RS256")
#: How long past the access token lifetime a rotated-out signing key stays published: clock skew.
RETIREMENT_MARGIN = 60
#: The MCP server that demo mode creates.
DEMO_MCP_SERVER_ID = "demo"
#: The admin pages' credentials in demo mode when none are set (loopback only; docs/decisions/0014).
DEMO_ADMIN = ("admin", "demo-admin-pages")
#: The shortest admin password accepted (issue 11 item 10): HTTP Basic has no second factor.
MIN_ADMIN_PASSWORD = 16
#: ``--dynamic-registration``: anyone may register a client (RFC 7591), or only the operator (decision 0025).
REGISTRATION_MODES = ("open", "closed")
#: ``--log-format``: readable lines, or one JSON object per line for a log collector (issue 17).
LOG_FORMATS = ("text", "json")
#: ``--http-stack``: uvicorn's event loop and HTTP/1.1 parser (docs/decisions/0052). ``asyncio`` is the
#: standard library's loop with h11; ``uvloop`` is uvloop with httptools (C, optional packages);
#: ``auto`` is ``uvloop`` when both packages are installed, else ``asyncio``.
HTTP_STACKS = ("asyncio", "uvloop", "auto")
#: The packages ``--http-stack uvloop`` needs (not dependencies of the project: ``pip install uvloop httptools``).
FAST_HTTP_PACKAGES = ("uvloop", "httptools")
#: Settings that must be greater than zero.
POSITIVE = (
    "code_ttl",
    "access_token_ttl",
    "refresh_token_ttl",
    "interaction_ttl",
    "session_ttl",
    "login_lockout_failures",
    "login_lockout_window",
    "login_lockout_duration",
    "client_idle_ttl",
    "client_cleanup_interval",
    "journey_retention",
    "client_metadata_timeout",
    "client_metadata_fetches",
    "client_metadata_fetches_per_host",
    "header_timeout",
    "body_timeout",
    "limit_concurrency",
    "db_pool_size",
    "db_timeout",
    "cache_check_interval",
    "workers",
)
#: Settings that are rates, ``COUNT/[N]UNIT`` (``Rate`` above).
RATES = (
    "rate_limit_authorize",
    "rate_limit_register",
    "rate_limit_token_client",
    "rate_limit_token_ip",
    "rate_limit_login",
    "rate_limit_login_ip",
    "rate_limit_fetch",
    "rate_limit_revoke",
    "rate_limit_introspect_failures",
)


def fast_http_installed() -> bool:
    """Whether uvloop and httptools can be imported (``--http-stack uvloop``)."""
    return all(importlib.util.find_spec(name) is not None for name in FAST_HTTP_PACKAGES)


def _setting(
    default: Any, help: str, env: str, shown: str | None = None, *, secret: bool = False, **argparse_options: Any
) -> Any:
    """A settings field; ``shown`` is how ``--help`` states the default when the value itself would not say.

    A ``secret`` one is left out of the settings' ``repr``, so that printing them never shows it.
    """
    metadata = {"help": help, "env": env, "shown": shown, "argparse": argparse_options}
    return field(default=default, metadata=metadata, repr=not secret)


@dataclass(frozen=True)
class Settings:
    """Everything the authorization server is configured with."""

    host: str = _setting("127.0.0.1", "interface to listen on", "AS_HOST")
    port: int = _setting(9000, "port to listen on", "AS_PORT")
    issuer: str = _setting("", "public URL of the root issuer (RFC 8414 §2)", "AS_ISSUER", "http://localhost:PORT")
    trusted_proxies: str = _setting(
        "",
        "comma-separated addresses or networks of the reverse proxies that terminate TLS in front of this"
        " server; only their X-Forwarded-For and X-Forwarded-Proto are believed (docs/decisions/0019)",
        "AS_TRUSTED_PROXIES",
        "none: forwarded headers are ignored",
    )
    db: str = _setting(
        "var/authorization_server.sqlite3",
        "the database: a SQLite file (PATH or sqlite:///PATH) or PostgreSQL (postgresql://USER@HOST/DB,"
        " docs/deployment.md)",
        "AS_DB",
    )
    db_pool_size: int = _setting(10, "PostgreSQL: connections in the pool at most", "AS_DB_POOL_SIZE")
    db_statement_cache: int = _setting(
        100,
        "PostgreSQL: prepared statements kept per connection; 0 behind a transaction pooler"
        " (PgBouncer pool_mode=transaction)",
        "AS_DB_STATEMENT_CACHE",
    )
    db_timeout: int = _setting(
        5,
        "seconds a request waits for the database (PostgreSQL: a connection; SQLite: the write lock another"
        " process holds) before it gets 503 with Retry-After",
        "AS_DB_TIMEOUT",
    )
    demo: bool = _setting(
        False,
        "demo mode: create the demo MCP server and user, and approve every authorization as that user",
        "AS_DEMO",
    )
    default_mcp_server: str = _setting(
        "",
        "id of the MCP server that a root-issuer request without `resource` is for (RFC 9068 §3)",
        "AS_DEFAULT_MCP_SERVER",
        "none; demo in demo mode",
    )
    demo_resource: str = _setting(
        "http://localhost:8000/mcp", "resource URL of the demo MCP server (demo mode)", "AS_DEMO_RESOURCE"
    )
    signing_alg: str = _setting(
        "ES256",
        "JWT signing algorithm for access tokens (RFC 9068)",
        "AS_SIGNING_ALG",
        choices=SIGNING_ALGORITHMS,
    )
    code_ttl: int = _setting(60, "authorization code lifetime, seconds (OAuth 2.1 §4.1.2)", "AS_CODE_TTL")
    access_token_ttl: int = _setting(900, "access token lifetime, seconds", "AS_ACCESS_TOKEN_TTL")
    refresh_token_ttl: int = _setting(30 * 24 * 3600, "refresh token lifetime, seconds", "AS_REFRESH_TOKEN_TTL")
    refresh_grace_confidential: int = _setting(
        10,
        "seconds during which a just-rotated refresh token of a confidential client, presented again, gets the"
        " same new pair instead of revoking its family (0: never; docs/decisions/0018)",
        "AS_REFRESH_GRACE_CONFIDENTIAL",
    )
    refresh_grace_public: int = _setting(
        5,
        "the same for a public client, which proves nothing but its client_id: keep it short (0: never)",
        "AS_REFRESH_GRACE_PUBLIC",
    )
    interaction_ttl: int = _setting(600, "time to sign in and consent, seconds", "AS_INTERACTION_TTL")
    session_ttl: int = _setting(8 * 3600, "browser sign-in session lifetime, seconds", "AS_SESSION_TTL")
    max_body_bytes: int = _setting(16 * 1024, "largest request body accepted, bytes", "AS_MAX_BODY_BYTES")
    # Slow or stalled clients (docs/decisions/0029): bounded here, and still the reverse proxy's job too.
    header_timeout: int = _setting(
        10,
        "seconds a connection has, from its start or its last answer, to send a request's headers; then 408"
        " (if it sent part of one) and the connection is closed",
        "AS_HEADER_TIMEOUT",
    )
    body_timeout: int = _setting(
        10,
        "seconds a request's body has to arrive once its endpoint reads it; then 408 and the connection is closed",
        "AS_BODY_TIMEOUT",
    )
    limit_concurrency: int = _setting(
        1000, "open connections and requests in progress at most; beyond them 503", "AS_LIMIT_CONCURRENCY"
    )
    http_stack: str = _setting(
        "asyncio",
        "uvicorn's event loop and HTTP parser: asyncio (the standard library's loop, h11), uvloop (uvloop and"
        " httptools, when installed: pip install uvloop httptools) or auto (uvloop when both are installed)"
        " (docs/decisions/0052)",
        "AS_HTTP_STACK",
        choices=HTTP_STACKS,
    )
    dynamic_registration: str = _setting(
        "open",
        "open: anyone may register a client (RFC 7591); closed: the registration endpoints answer 403 and the"
        " metadata names none, only `clients add` and client ID metadata documents make clients (docs/decisions/0025)",
        "AS_DYNAMIC_REGISTRATION",
        choices=REGISTRATION_MODES,
    )
    # Abuse controls (docs/decisions/0011). A rate is COUNT/[N]UNIT, UNIT one of s, min, h:
    # COUNT requests at once, refilled evenly over the period (a token bucket).
    rate_limit_authorize: str = _setting(
        "60/min",
        "authorization requests per client address (each writes a journey; issue 11)",
        "AS_RATE_LIMIT_AUTHORIZE",
    )
    rate_limit_register: str = _setting(
        "60/10min", "registrations per client address (RFC 7591 §5)", "AS_RATE_LIMIT_REGISTER"
    )
    rate_limit_token_client: str = _setting(
        "60/min",
        "token requests per authenticated client_id (a public client's: per client_id and address)",
        "AS_RATE_LIMIT_TOKEN_CLIENT",
    )
    rate_limit_token_ip: str = _setting("600/min", "token requests per client address", "AS_RATE_LIMIT_TOKEN_IP")
    rate_limit_login: str = _setting(
        "10/min", "sign-in attempts per client address and username", "AS_RATE_LIMIT_LOGIN"
    )
    rate_limit_login_ip: str = _setting("100/min", "sign-in attempts per client address", "AS_RATE_LIMIT_LOGIN_IP")
    rate_limit_fetch: str = _setting(
        "30/min",
        "client metadata document and jwks_uri fetches per client address; answers from the cache do not count",
        "AS_RATE_LIMIT_FETCH",
    )
    rate_limit_revoke: str = _setting(
        "120/min", "revocation requests per client address (RFC 7009 §2)", "AS_RATE_LIMIT_REVOKE"
    )
    rate_limit_introspect_failures: str = _setting(
        "30/min",
        "failed authentications at the introspection endpoint per client address; with none left, every"
        " introspection request from it is refused (RFC 7662 §4)",
        "AS_RATE_LIMIT_INTROSPECT_FAILURES",
    )
    login_lockout_failures: int = _setting(
        5,
        "failed passwords for one username from one address that lock it there (and failed admin sign-ins"
        " that lock an address out of the admin pages)",
        "AS_LOGIN_LOCKOUT_FAILURES",
    )
    login_lockout_window: int = _setting(900, "seconds within which those failures count", "AS_LOGIN_LOCKOUT_WINDOW")
    login_lockout_duration: int = _setting(
        900,
        "seconds the first lock lasts; each new one of the same lock twice as long, up to a day",
        "AS_LOGIN_LOCKOUT_DURATION",
    )
    client_idle_ttl: int = _setting(
        30 * 24 * 3600,
        "seconds after which a registered client that was issued no token is deleted, unless it holds a live"
        " refresh token",
        "AS_CLIENT_IDLE_TTL",
    )
    client_cleanup_interval: int = _setting(
        3600, "seconds between two cleanups of idle clients and abandoned journeys", "AS_CLIENT_CLEANUP_INTERVAL"
    )
    journey_retention: int = _setting(
        30 * 24 * 3600,
        "seconds a journey that ended without a grant (failed, denied, expired) is kept before it is deleted",
        "AS_JOURNEY_RETENTION",
    )
    dpop_nonce: bool = _setting(
        False,
        "require a server nonce in DPoP proofs at the token endpoint (RFC 9449 §8): a proof without the current"
        " one is answered use_dpop_nonce with a DPoP-Nonce header (docs/dpop.md)",
        "AS_DPOP_NONCE",
    )
    # URLs clients give us: client ID metadata documents and jwks_uri (docs/decisions/0015, safe_fetch.py).
    allow_loopback_client_metadata: bool = _setting(
        False,
        "development only: fetch client metadata documents and jwks_uri from loopback (http or https);"
        " needs a loopback host and issuer",
        "AS_ALLOW_LOOPBACK_CLIENT_METADATA",
        "off; on in demo mode",
    )
    client_metadata_timeout: int = _setting(
        5, "seconds a client metadata document or jwks_uri fetch may take, all in", "AS_CLIENT_METADATA_TIMEOUT"
    )
    client_metadata_cache_min: int = _setting(
        60,
        "seconds a fetched client metadata document or JWK Set is reused at least (unless no-store)",
        "AS_CLIENT_METADATA_CACHE_MIN",
    )
    client_metadata_cache_max: int = _setting(
        3600,
        "seconds a fetched client metadata document or JWK Set is reused at most, whatever its max-age",
        "AS_CLIENT_METADATA_CACHE_MAX",
    )
    client_metadata_failure_cache: int = _setting(
        30,
        "seconds a failed client metadata document or jwks_uri fetch (or an invalid answer) is answered from"
        " memory instead of fetched again (0: never)",
        "AS_CLIENT_METADATA_FAILURE_CACHE",
    )
    client_metadata_fetches: int = _setting(
        16,
        "client metadata document and jwks_uri fetches running at once; a request that gets no slot within"
        " 1 s is answered temporarily_unavailable (503)",
        "AS_CLIENT_METADATA_FETCHES",
    )
    client_metadata_fetches_per_host: int = _setting(
        2, "of those, fetches running at once from one host", "AS_CLIENT_METADATA_FETCHES_PER_HOST"
    )
    # The admin pages (/admin/journeys, docs/decisions/0014), behind HTTP Basic: off while unset.
    admin_username: str = _setting(
        "", "username of the admin pages", "AS_ADMIN_USERNAME", "unset: admin pages off; admin in demo mode"
    )
    admin_password: str = _setting(
        "",
        f"password of the admin pages, at least {MIN_ADMIN_PASSWORD} characters; prefer the environment variable"
        " to the option",
        "AS_ADMIN_PASSWORD",
        f"unset: admin pages off; {DEMO_ADMIN[1]} in demo mode",
        secret=True,
    )
    # Downstream tokens are sealed at rest with this AES-256-GCM key (docs/decisions/0021).
    downstream_token_key: str = _setting(
        "",
        "base64url of 32 random octets that seal downstream tokens at rest (AES-256-GCM), e.g. from"
        " `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`; prefer the environment variable",
        "AS_DOWNSTREAM_TOKEN_KEY",
        "unset: MCP servers with connections cannot be authorized; a key of the process's own in demo mode",
        secret=True,
    )
    # The private keys that sign access tokens are sealed at rest with this AES-256-GCM key (docs/decisions/0027).
    key_encryption_key: str = _setting(
        "",
        "base64url of 32 random octets that seal the token signing keys at rest (AES-256-GCM), e.g. from"
        " `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`; required to serve and for `keys`;"
        " prefer the environment variable",
        "AS_KEY_ENCRYPTION_KEY",
        "unset: the server refuses to start; in demo mode a key kept in the file DB.key",
        secret=True,
    )
    # Sign-in (issue 16): the password form, beside the identity providers (`identity-providers add`).
    local_accounts: bool = _setting(
        True,
        "show the password form for the accounts of this server (`users add`); --no-local-accounts leaves"
        " only the identity providers' buttons (`identity-providers add`)",
        "AS_LOCAL_ACCOUNTS",
        "on",
    )
    # The operator's surface (issue 17, docs/decisions/0038): the log's form, the metrics' listener.
    log_level: str = _setting("info", "log level", "AS_LOG_LEVEL", choices=("debug", "info", "warning", "error"))
    log_format: str = _setting(
        "text",
        "text: one readable line per record; json: one JSON object per line (time, level, logger, message,"
        " and the access line's fields)",
        "AS_LOG_FORMAT",
        choices=LOG_FORMATS,
    )
    metrics_port: int = _setting(
        0,
        "port of a second listener that serves only /metrics (Prometheus text format), never the public port;"
        " 0: no metrics",
        "AS_METRICS_PORT",
        "0: off",
    )
    metrics_host: str = _setting(
        "127.0.0.1",
        "interface of the metrics listener; beyond loopback only on a network the scraper alone reaches",
        "AS_METRICS_HOST",
    )
    cache_check_interval: float = _setting(
        1.0,
        "seconds between an instance's looks at what other instances and the command line changed (MCP"
        " servers, signing keys); a new signing key is published at once and signs from twice this after it"
        " was made",
        "AS_CACHE_CHECK_INTERVAL",
    )
    workers: int = _setting(
        1,
        "processes serving this issuer from this database on this port (several instances: docs/deployment.md)",
        "AS_WORKERS",
    )

    @property
    def uvloop_and_httptools(self) -> bool:
        """Whether uvicorn runs on uvloop and httptools (``--http-stack``), rather than asyncio and h11."""
        return self.http_stack == "uvloop" or (self.http_stack == "auto" and fast_http_installed())

    def rate(self, name: str) -> Rate:
        """The rate limit setting ``name``, parsed (``check`` made sure it parses)."""
        return Rate.parse(getattr(self, name))

    @property
    def key_lifetime_after_rotation(self) -> timedelta:
        """How long a rotated-out signing key stays published: until its last token has expired."""
        return timedelta(seconds=self.access_token_ttl + RETIREMENT_MARGIN)

    @property
    def key_activation_delay(self) -> timedelta:
        """How long after it was made a new signing key starts signing: by then every instance publishes it
        (each looks at the database at least every ``cache_check_interval``; issue 13)."""
        return timedelta(seconds=2 * self.cache_check_interval)

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The trusted reverse proxies, as networks; ``ValueError`` for an entry that is not one."""
        networks = []
        for entry in filter(None, (part.strip() for part in self.trusted_proxies.split(","))):
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or network (such as 10.0.0.5 or 10.0.0.0/24)"
                ) from None
        return tuple(networks)

    @property
    def registration_open(self) -> bool:
        """Whether anyone may register a client (RFC 7591 §3), or only the operator (``clients add``)."""
        return self.dynamic_registration == "open"

    @property
    def admin_pages(self) -> bool:
        """Whether ``/admin/…`` answers at all: only with admin credentials set."""
        return bool(self.admin_username and self.admin_password)

    @property
    def secure_cookies(self) -> bool:
        """Cookies get ``Secure`` and the ``__Host-`` prefix when the issuer is https."""
        return self.issuer.startswith("https://")

    def check(self) -> "Settings":
        """Fill derived defaults and refuse unsafe combinations; ``ValueError`` says why."""
        settings = self if self.issuer else replace(self, issuer=f"http://localhost:{self.port}")
        if settings.demo and not settings.default_mcp_server:
            settings = replace(settings, default_mcp_server=DEMO_MCP_SERVER_ID)
        if settings.demo:
            settings = replace(settings, allow_loopback_client_metadata=True)
        if settings.demo and not (settings.admin_username or settings.admin_password):
            settings = replace(settings, admin_username=DEMO_ADMIN[0], admin_password=DEMO_ADMIN[1])
        parts = urlsplit(settings.issuer)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"issuer {settings.issuer!r} is not an absolute http(s) URL")
        if parts.path or parts.query or parts.fragment or settings.issuer.endswith(("/", "#", "?")):
            raise ValueError(
                f"issuer {settings.issuer!r} must be scheme://host[:port] only: the routes live at the root"
            )
        if not is_https_or_loopback_http(settings.issuer):
            raise ValueError(
                f"issuer {settings.issuer!r} is plain http on a non-loopback host: OAuth 2.1 §1.5 "
                "requires https (plain http is only allowed on loopback)"
            )
        if settings.demo and not (is_loopback_host(settings.host) and is_loopback_host(parts.hostname)):
            raise ValueError("demo mode approves every request without a login: it only runs on loopback")
        if settings.allow_loopback_client_metadata and not (
            is_loopback_host(settings.host) and is_loopback_host(parts.hostname)
        ):
            raise ValueError(
                "allow_loopback_client_metadata lets clients make this server fetch loopback URLs: "
                "it only runs on loopback (CIMD section 6.5)"
            )
        if not 0 <= settings.client_metadata_cache_min <= settings.client_metadata_cache_max:
            raise ValueError("client_metadata_cache_min must be between 0 and client_metadata_cache_max")
        proxies = settings.proxy_networks  # raises ValueError for an entry that is not an address
        if not proxies and not is_loopback_host(settings.host):
            raise ValueError(
                f"this server speaks plain HTTP and would listen on {settings.host}, beyond loopback: terminate TLS"
                " in a reverse proxy and name it with --trusted-proxies (OAuth 2.1 §1.5)"
            )
        if settings.signing_alg not in SIGNING_ALGORITHMS:
            raise ValueError(f"signing_alg must be one of {', '.join(SIGNING_ALGORITHMS)}")
        if settings.dynamic_registration not in REGISTRATION_MODES:
            raise ValueError(f"dynamic_registration must be one of {', '.join(REGISTRATION_MODES)}")
        if bool(settings.admin_username) != bool(settings.admin_password):
            raise ValueError("set both admin_username and admin_password, or neither (admin pages off)")
        if settings.admin_password and len(settings.admin_password) < MIN_ADMIN_PASSWORD:
            raise ValueError(f"admin_password must be at least {MIN_ADMIN_PASSWORD} characters long")
        for name in POSITIVE:
            if getattr(settings, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if settings.workers > 1 and settings.metrics_port:
            raise ValueError(
                "metrics_port counts one process: with workers, run each instance as a process of its own,"
                " each with its own metrics port"
            )
        if settings.workers > 1 and settings.demo:
            raise ValueError("demo mode runs one process (its downstream token key is its own): leave out workers")
        if settings.cache_check_interval > 60:
            raise ValueError("cache_check_interval must be at most 60 seconds")
        for name in ("refresh_grace_confidential", "refresh_grace_public"):
            if getattr(settings, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        if settings.client_metadata_failure_cache < 0:
            raise ValueError("client_metadata_failure_cache must be 0 or more")
        for name in RATES:
            Rate.parse(getattr(settings, name))
        if settings.http_stack not in HTTP_STACKS:
            raise ValueError(f"http_stack must be one of {', '.join(HTTP_STACKS)}")
        if settings.http_stack == "uvloop" and not fast_http_installed():
            raise ValueError("http_stack uvloop needs the packages uvloop and httptools: pip install uvloop httptools")
        if settings.log_format not in LOG_FORMATS:
            raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
        if not 0 <= settings.metrics_port <= 65535:
            raise ValueError("metrics_port must be a port number (1-65535), or 0 for no metrics")
        if settings.metrics_port and settings.metrics_port == settings.port:
            raise ValueError("metrics_port must not be the public port: the metrics have a listener of their own")
        if settings.db_statement_cache < 0:
            raise ValueError("db_statement_cache must be 0 or more")
        parse_target(settings.db)  # ValueError for a scheme that is not a database
        if settings.downstream_token_key:
            parse_key(settings.downstream_token_key)
        if settings.key_encryption_key:
            parse_key(settings.key_encryption_key, "key_encryption_key")
        return settings

    def require_key_encryption_key(self) -> None:
        """For what opens the signing keys (the server, ``keys``): ``ValueError`` without a key, outside demo mode.

        Demo mode uses a key of its own kept beside the database (``local_key_file``).
        """
        if not (self.key_encryption_key or self.demo):
            raise ValueError(
                "AS_KEY_ENCRYPTION_KEY is not set: the token signing keys are sealed at rest with it"
                " (make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file ``db`` names; None for PostgreSQL."""
        engine, address = parse_target(self.db)
        return Path(address) if engine == "sqlite" else None

    @property
    def pool_options(self) -> PoolOptions:
        """How a PostgreSQL database is reached (``db_pool_size``, ``db_statement_cache``, ``db_timeout``)."""
        return PoolOptions(self.db_pool_size, self.db_statement_cache, float(self.db_timeout))

    @property
    def local_key_file(self) -> Path:
        """Demo mode's own key for the signing keys, when ``key_encryption_key`` is unset: beside the database.

        On PostgreSQL, in ``var/`` of the working directory.
        """
        path = self.sqlite_path or Path("var/authorization_server.postgresql")
        return path.with_name(path.name + ".key")


def add_arguments(parser: argparse.ArgumentParser, *names: str, default: Any = None) -> None:
    """Add the options for the named settings (all of them when none are named) to ``parser``.

    A subcommand repeating an option passes ``default=argparse.SUPPRESS``, so that its absence
    does not erase a value given before the subcommand.
    """
    for setting in fields(Settings):
        if names and setting.name not in names:
            continue
        option = "--" + setting.name.replace("_", "-")
        meta = setting.metadata
        shown = meta["shown"] or ("off" if setting.default is False else setting.default)
        text = f"{meta['help']} (env {meta['env']}, default {shown})"
        if (setting.type is bool or setting.type == "bool") and setting.default is True:  # --x / --no-x
            parser.add_argument(option, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif setting.type is bool or setting.type == "bool":
            parser.add_argument(option, action="store_true", default=default, help=text)
        else:
            kinds: dict[object, type] = {int: int, float: float, "float": float, Path: Path}
            kind = kinds.get(setting.type, str)
            parser.add_argument(option, type=kind, default=default, help=text, **meta["argparse"])


#: The environment variable naming the configuration file, when ``--config`` does not.
CONFIG_ENV = "AS_CONFIG"


def add_loading_arguments(parser: argparse.ArgumentParser) -> None:
    """The options about the settings themselves: the configuration file, and printing the effective settings."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help=f"TOML file of settings, one key per setting (docs/configuration.md); options and environment"
        f" variables win over it (env {CONFIG_ENV}, default none)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective settings as TOML, secrets masked, and exit",
    )


def load(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Settings:
    """Build the settings from parsed options, then the environment, then the configuration file, then the defaults."""
    path = getattr(args, "config", None) or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    from_file = read_config(path) if path is not None else {}
    values: dict[str, Any] = {}
    for setting in fields(Settings):
        given = getattr(args, setting.name, None)
        if given is not None:
            values[setting.name] = given
        elif setting.metadata["env"] in environ:
            values[setting.name] = _from_env(setting.type, environ[setting.metadata["env"]], setting.name)
        elif setting.name in from_file:
            values[setting.name] = from_file[setting.name]
    return Settings(**values).check()


def read_config(path: Path) -> dict[str, Any]:
    """The settings a TOML configuration file sets; ``ValueError`` in one line for an unknown key or a wrong type.

    Keys are the settings' names (``access_token_ttl``), at the top level; a relative ``db`` path
    is relative to the working directory, as with ``--db``.
    """
    document = read_toml(path)
    known = {setting.name: setting for setting in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in document.items():
        setting = known.get(key)
        if setting is None:
            raise not_a_setting(path, key, known)
        kind = _kind(setting.type)
        if kind is Path:
            kind = str
        accepted = (int, float) if kind is float else kind
        if not isinstance(value, accepted) or (kind in (int, float) and isinstance(value, bool)):
            raise wrong_type(path, key, kind, value)
        choices = setting.metadata["argparse"].get("choices")
        if choices and value not in choices:
            raise ValueError(f"configuration file {path}: {key} must be one of {', '.join(choices)}, not {value!r}")
        if kind is float and isinstance(value, int | float):
            value = float(value)
        values[key] = Path(str(value)) if setting.type is Path else value
    return values


def to_toml(settings: Settings) -> str:
    """The settings as a TOML configuration file that ``--config`` reads back; a set secret is a comment.

    A secret (``secret=True`` above: left out of the ``repr``) that is set shows as masked and commented
    out, so that the output can be kept or shared without it.
    """
    lines = ["# The effective settings of the authorization server (docs/configuration.md)."]
    for setting in fields(Settings):
        value = getattr(settings, setting.name)
        if not setting.repr and value:
            lines.append(f"# {setting.name} = (set, masked: a secret; give it by {setting.metadata['env']})")
            continue
        if setting.name == "db":
            value = shown(value)  # a PostgreSQL URL's password, masked (give it by PGPASSWORD or ~/.pgpass)
        lines.append(f"{setting.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def reference_table() -> str:
    """Every setting with its option, environment variable, default and meaning, as a Markdown table.

    docs/configuration.md carries it; tests/authorization_server/test_configuration.py keeps it true.
    """
    rows = [
        "| Setting (file key) | Option | Environment | Default | Meaning |",
        "|---|---|---|---|---|",
    ]
    for setting in fields(Settings):
        meta = setting.metadata
        shown = meta["shown"] or f"`{_toml_value(setting.default)}`"
        secret = " **Secret**: masked by `--print-config`." if not setting.repr else ""
        meaning = meta["help"].replace("|", "\\|") + secret
        option = "--" + setting.name.replace("_", "-")
        rows.append(f"| `{setting.name}` | `{option}` | `{meta['env']}` | {shown} | {meaning} |")
    return "\n".join(rows) + "\n"


def _toml_value(value: Any) -> str:
    """A TOML value: JSON's string escapes are TOML's basic-string escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


def _kind(kind: Any) -> type:
    """The Python type of a settings field, whose annotation may be a string."""
    kinds: dict[Any, type] = {bool: bool, "bool": bool, int: int, "int": int, float: float, "float": float}
    return (kinds | {Path: Path, "Path": Path}).get(kind, str)


def from_options(options: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """The server's settings from its command-line options and an explicit environment, ``os.environ`` untouched.

    What ``python -m authorization_server OPTIONS`` would run with, for a server built inside another
    program (the tests' in-process harness, tests/harness.md). A bad option or value raises ``ValueError``.
    """
    parser = argparse.ArgumentParser(prog="authorization_server", exit_on_error=False, add_help=False)
    add_arguments(parser)
    add_loading_arguments(parser)
    try:
        args = parser.parse_args(list(options))
    except argparse.ArgumentError as exc:
        raise ValueError(str(exc)) from None
    return load(args, environ)


def downstream_client_secret(variable: str) -> str | None:
    """A connection's client secret at its downstream provider, from the variable it names (decisions/0013)."""
    return os.environ.get(variable) or None


def _from_env(kind: Any, raw: str, name: str) -> Any:
    if kind is bool or kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    try:
        return {int: int, "int": int, float: float, "float": float, Path: Path}.get(kind, str)(raw)
    except ValueError:
        raise ValueError(f"environment value for {name} is not valid: {raw!r}") from None
