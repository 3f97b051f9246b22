"""The command line: MCP servers, users, and the settings the server refuses to run with."""

import re
import subprocess
from pathlib import Path

import httpx2
import pytest

from mcp_authz.authorization_server.settings import Settings
from scripts.stack import run_cli, start_authorization_server
from tests.authorization_server.flows import rows

#: The command line as the operator runs it: its own interpreter, beside a server process (docs/testing.md).
pytestmark = pytest.mark.real_process


def cli(db: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m authorization_server ARGS --db DB``, whatever its exit status."""
    return run_cli(["-m", "authorization_server", *args, "--db", str(db)], input=input, check=False)


def add_notes_server(db: Path, resource: str = "https://notes.example/mcp") -> subprocess.CompletedProcess[str]:
    return cli(db, "mcp-servers", "add", "--id", "notes", "--resource", resource, "--scopes", "notes:read notes:write")


@pytest.fixture(name="db")
def _db(tmp_path: Path) -> Path:
    return tmp_path / "as.sqlite3"


class TestMcpServersCommand:
    def test_an_added_server_is_listed_with_its_issuer_and_scopes(self, db: Path):
        """Seed 000: `mcp-servers add` registers a protected resource; `list` shows it and its issuer."""
        added = add_notes_server(db)

        listed = cli(db, "mcp-servers", "list")

        assert (added.returncode, added.stdout) == (
            0,
            "added MCP server notes: https://notes.example/mcp\n  its issuer: http://localhost:9000/mcp/notes\n",
        )
        assert listed.stdout == (
            "notes  https://notes.example/mcp\n"
            "    name 'notes', version latest, issuer http://localhost:9000/mcp/notes\n"
            "    scopes notes:read notes:write (default notes:read notes:write)\n"
            "    introspection credentials none (`mcp-servers credentials ID`)\n"
        )

    def test_credentials_are_printed_once_and_listed_as_set(self, db: Path):
        """RFC 7662 §2.1: `mcp-servers credentials ID` prints a new secret; `list` only says one is set."""
        add_notes_server(db)

        printed = cli(db, "mcp-servers", "credentials", "notes").stdout.splitlines()
        listed = cli(db, "mcp-servers", "list").stdout

        assert printed[1:2] == ["  client_id      notes"]
        secret = printed[2].split()[1]
        assert len(secret) == 43
        assert secret not in listed
        assert listed.endswith("    introspection credentials set\n")

    def test_a_second_server_with_the_same_id_is_refused(self, db: Path):
        """An id names one issuer: adding it twice is an error, and the first server stays."""
        add_notes_server(db)

        again = add_notes_server(db, "https://notes-2.example/mcp")

        assert (again.returncode, again.stderr) == (
            1,
            "authorization_server: MCP server 'notes' already has that id or resource (https://notes.example/mcp)\n",
        )
        assert [row["resource"] for row in rows(db, "SELECT resource FROM mcp_servers")] == [
            "https://notes.example/mcp"
        ]

    def test_a_resource_not_in_canonical_form_is_refused(self, db: Path):
        """MCP Canonical Server URI, RFC 8707 §2: lower-case scheme and host, as tokens will carry it."""
        result = add_notes_server(db, "HTTPS://Notes.Example/mcp")

        assert (result.returncode, result.stderr) == (
            1,
            "authorization_server: resource must be written in canonical form: 'https://notes.example/mcp'\n",
        )


class TestUsersCommand:
    def test_a_user_is_added_with_the_password_read_from_stdin(self, db: Path):
        """`users add NAME` reads a piped password and stores only its scrypt hash."""
        result = cli(db, "users", "add", "alice", input="correct horse battery\n")

        assert result.returncode == 0
        [user] = rows(db, "SELECT id, username, password_hash FROM users")
        assert result.stdout == f"added user alice ({user['id']})\n"
        assert user["username"] == "alice"
        assert re.fullmatch(r"scrypt\$32768\$8\$3\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+", user["password_hash"])

    def test_a_short_password_is_refused(self, db: Path):
        """Accounts: a password has at least 8 characters; nothing is stored otherwise."""
        result = cli(db, "users", "add", "bob", input="short\n")

        assert (result.returncode, result.stderr) == (1, "authorization_server: a password has at least 8 characters\n")
        assert rows(db, "SELECT * FROM users") == []


class TestUserAdministration:
    def test_list_disable_reset_and_remove_as_the_operator_runs_them(self, db: Path):
        """Issue 17: `users list | disable | enable | reset-password | remove` in their own interpreter."""
        cli(db, "users", "add", "alice", input="correct horse battery\n")

        disabled = cli(db, "users", "disable", "alice")
        listed = cli(db, "users", "list").stdout
        enabled = cli(db, "users", "enable", "alice")
        reset = cli(db, "users", "reset-password", "alice", input="another horse battery\n")
        removed = cli(db, "users", "remove", "alice")
        again = cli(db, "users", "remove", "alice")

        [user_id] = re.findall(r"usr_\S+", listed)
        assert disabled.returncode == enabled.returncode == reset.returncode == removed.returncode == 0
        assert re.fullmatch(rf"alice  {user_id}  local  disabled [\d-]+ [\d:]+  created [\d-]+ [\d:]+ UTC\n", listed)
        assert removed.stdout == "removed user alice; ended 0 grant(s), their sessions and consents\n"
        assert (again.returncode, again.stderr) == (1, "authorization_server: no user named 'alice'\n")
        assert rows(db, "SELECT * FROM users") == []


class TestServerSettings:
    def test_demo_mode_refuses_a_non_loopback_host(self, db: Path):
        """Demo mode approves everything without a login, so it never listens beyond loopback."""
        result = cli(db, "--demo", "--host", "0.0.0.0")  # noqa: S104 - the value under test

        assert (result.returncode, result.stderr) == (
            2,
            "authorization_server: demo mode approves every request without a login: it only runs on loopback\n",
        )

    def test_the_loopback_client_metadata_switch_refuses_a_public_issuer(self, db: Path):
        """AS-52, CIMD §6.5 (decision 0015): loopback documents only for a server that itself runs on loopback."""
        result = cli(db, "--allow-loopback-client-metadata", "--issuer", "https://auth.example.com")

        assert (result.returncode, result.stderr) == (
            2,
            "authorization_server: allow_loopback_client_metadata lets clients make this server fetch loopback"
            " URLs: it only runs on loopback (CIMD section 6.5)\n",
        )

    def test_a_plain_http_issuer_on_a_public_host_is_refused(self, db: Path):
        """AS-11, OAuth 2.1 §1.5: plain http only on loopback."""
        result = cli(db, "--issuer", "http://auth.example.com")

        assert result.returncode == 2
        assert result.stderr == (
            "authorization_server: issuer 'http://auth.example.com' is plain http on a non-loopback host:"
            " OAuth 2.1 §1.5 requires https (plain http is only allowed on loopback)\n"
        )

    def test_a_plain_http_issuer_is_refused_even_behind_a_trusted_proxy(self, db: Path):
        """AS-11, decision 0019: the issuer is what clients see; TLS in front makes it https, never http."""
        result = cli(db, "--issuer", "http://auth.example.com", "--trusted-proxies", "10.0.0.5")

        assert result.returncode == 2
        assert result.stderr.startswith("authorization_server: issuer 'http://auth.example.com' is plain http")

    def test_listening_beyond_loopback_without_a_trusted_proxy_is_refused(self, db: Path):
        """AS-11, OAuth 2.1 §1.5: this server has no TLS of its own, so beyond loopback a proxy must add it."""
        result = cli(db, "--issuer", "https://auth.example.com", "--host", "0.0.0.0")  # noqa: S104 - under test

        assert (result.returncode, result.stderr) == (
            2,
            "authorization_server: this server speaks plain HTTP and would listen on 0.0.0.0, beyond loopback:"
            " terminate TLS in a reverse proxy and name it with --trusted-proxies (OAuth 2.1 §1.5)\n",
        )

    def test_a_trusted_proxy_that_is_not_an_address_is_refused(self, db: Path):
        """Decision 0019: proxies are named by address or network, never by a name that resolves later."""
        result = cli(db, "--trusted-proxies", "10.0.0.5, proxy.internal")

        assert (result.returncode, result.stderr) == (
            2,
            "authorization_server: trusted_proxies: 'proxy.internal' is not an IP address or network"
            " (such as 10.0.0.5 or 10.0.0.0/24)\n",
        )

    def test_behind_a_trusted_proxy_an_https_issuer_listens_beyond_loopback(self, tmp_path: Path):
        """AS-11, decision 0019: with the proxy named, the production configuration starts."""
        server = start_authorization_server(
            tmp_path,
            "--issuer", "https://auth.example.com", "--host", "0.0.0.0", "--trusted-proxies", "127.0.0.1",  # noqa: S104
            demo=False,
        )  # fmt: skip
        try:
            metadata = httpx2.get(f"http://127.0.0.1:{server.port}/.well-known/oauth-authorization-server").json()
            assert metadata["issuer"] == "https://auth.example.com"
        finally:
            server.program.stop()

    def test_an_issuer_with_a_path_is_refused(self, db: Path):
        """RFC 8414 §2: the root issuer is scheme://host[:port]; MCP issuers get their paths from it."""
        result = cli(db, "--issuer", "https://auth.example.com/")

        assert result.returncode == 2
        assert "must be scheme://host[:port] only" in result.stderr

    def test_a_rate_limit_that_is_not_a_rate_is_refused(self, db: Path):
        """docs/decisions/0011: a rate is COUNT/[N]UNIT; anything else stops the server before it starts."""
        result = cli(db, "--rate-limit-token-client", "10/day")

        assert (result.returncode, result.stderr) == (
            2,
            "authorization_server: '10/day' is not a rate such as 60/min, 60/10min or 5/30s\n",
        )

    @pytest.mark.parametrize("option", ["--rate-limit-revoke", "--rate-limit-introspect-failures"])
    def test_a_revocation_or_introspection_limit_that_is_not_a_rate_is_refused(self, db: Path, option: str):
        """RFC 7009 §2, RFC 7662 §4 limits (docs/decisions/0011): checked like the others, one line and exit 2."""
        result = cli(db, option, "0/min")

        assert (result.returncode, result.stderr) == (
            2,
            "authorization_server: '0/min' is not a rate such as 60/min, 60/10min or 5/30s\n",
        )

    def test_an_admin_username_without_a_password_is_refused(self, db: Path):
        """docs/decisions/0014: the admin pages need both credentials, or are off."""
        result = cli(db, "--admin-username", "root")

        assert (result.returncode, result.stderr) == (
            2,
            "authorization_server: set both admin_username and admin_password, or neither (admin pages off)\n",
        )

    def test_a_short_admin_password_is_refused(self, db: Path):
        """Issue 11 item 10: HTTP Basic has no second factor, so the admin password has 16 characters at least."""
        result = cli(db, "--admin-username", "root", "--admin-password", "fifteen chars!!")

        assert (result.returncode, result.stderr) == (
            2,
            "authorization_server: admin_password must be at least 16 characters long\n",
        )

    def test_the_admin_password_is_not_in_the_settings_repr(self):
        """Never log a secret: printing the settings does not show the admin password."""
        settings = Settings(admin_username="root", admin_password="hunter2 staple battery").check()

        assert "admin_username='root'" in repr(settings)
        assert "hunter2" not in repr(settings)

    def test_help_lists_every_setting_with_its_environment_variable_and_default(self):
        """STYLE rule 6: every setting is documented where it is defined, with its default."""
        result = run_cli(["-m", "authorization_server", "--help"])

        text = " ".join(result.stdout.split())
        expected = [
            # Issue 17: the configuration file, which the settings below may come from (docs/configuration.md).
            "--config PATH TOML file of settings, one key per setting (docs/configuration.md); options and"
            " environment variables win over it (env AS_CONFIG, default none)",
            "--host HOST interface to listen on (env AS_HOST, default 127.0.0.1)",
            "--port PORT port to listen on (env AS_PORT, default 9000)",
            "--issuer ISSUER public URL of the root issuer (RFC 8414 §2) (env AS_ISSUER, default http://localhost:PORT)",
            "--trusted-proxies TRUSTED_PROXIES comma-separated addresses or networks of the reverse proxies that"
            " terminate TLS in front of this server; only their X-Forwarded-For and X-Forwarded-Proto are believed"
            " (docs/decisions/0019) (env AS_TRUSTED_PROXIES, default none: forwarded headers are ignored)",
            # Issue 13: the database is a SQLite file or a PostgreSQL URL (docs/deployment.md).
            "--db DB the database: a SQLite file (PATH or sqlite:///PATH) or PostgreSQL (postgresql://USER@HOST/DB,"
            " docs/deployment.md) (env AS_DB, default var/authorization_server.sqlite3)",
            "--db-pool-size DB_POOL_SIZE PostgreSQL: connections in the pool at most (env AS_DB_POOL_SIZE, default 10)",
            "--db-statement-cache DB_STATEMENT_CACHE PostgreSQL: prepared statements kept per connection; 0 behind a"
            " transaction pooler (PgBouncer pool_mode=transaction) (env AS_DB_STATEMENT_CACHE, default 100)",
            # Issue 14: on SQLite, the write lock another process holds.
            "--db-timeout DB_TIMEOUT seconds a request waits for the database (PostgreSQL: a connection; SQLite:"
            " the write lock another process holds) before it gets 503 with Retry-After (env AS_DB_TIMEOUT, default 5)",
            "--demo demo mode: create the demo MCP server and user, and approve every authorization as that user"
            " (env AS_DEMO, default off)",
            "--default-mcp-server DEFAULT_MCP_SERVER id of the MCP server that a root-issuer request without"
            " `resource` is for (RFC 9068 §3) (env AS_DEFAULT_MCP_SERVER, default none; demo in demo mode)",
            "--demo-resource DEMO_RESOURCE resource URL of the demo MCP server (demo mode)"
            " (env AS_DEMO_RESOURCE, default http://localhost:8000/mcp)",
            "--signing-alg {ES256,EdDSA,RS256} JWT signing algorithm for access tokens (RFC 9068)"
            " (env AS_SIGNING_ALG, default ES256)",
            "--code-ttl CODE_TTL authorization code lifetime, seconds (OAuth 2.1 §4.1.2) (env AS_CODE_TTL, default 60)",
            "--access-token-ttl ACCESS_TOKEN_TTL access token lifetime, seconds (env AS_ACCESS_TOKEN_TTL, default 900)",
            "--refresh-token-ttl REFRESH_TOKEN_TTL refresh token lifetime, seconds"
            " (env AS_REFRESH_TOKEN_TTL, default 2592000)",
            "--refresh-grace-confidential REFRESH_GRACE_CONFIDENTIAL seconds during which a just-rotated refresh"
            " token of a confidential client, presented again, gets the same new pair instead of revoking its family"
            " (0: never; docs/decisions/0018) (env AS_REFRESH_GRACE_CONFIDENTIAL, default 10)",
            "--refresh-grace-public REFRESH_GRACE_PUBLIC the same for a public client, which proves nothing but its"
            " client_id: keep it short (0: never) (env AS_REFRESH_GRACE_PUBLIC, default 5)",
            "--interaction-ttl INTERACTION_TTL time to sign in and consent, seconds"
            " (env AS_INTERACTION_TTL, default 600)",
            "--session-ttl SESSION_TTL browser sign-in session lifetime, seconds (env AS_SESSION_TTL, default 28800)",
            "--max-body-bytes MAX_BODY_BYTES largest request body accepted, bytes"
            " (env AS_MAX_BODY_BYTES, default 16384)",
            "--header-timeout HEADER_TIMEOUT seconds a connection has, from its start or its last answer, to send a"
            " request's headers; then 408 (if it sent part of one) and the connection is closed"
            " (env AS_HEADER_TIMEOUT, default 10)",
            "--body-timeout BODY_TIMEOUT seconds a request's body has to arrive once its endpoint reads it; then 408"
            " and the connection is closed (env AS_BODY_TIMEOUT, default 10)",
            "--limit-concurrency LIMIT_CONCURRENCY open connections and requests in progress at most; beyond them 503"
            " (env AS_LIMIT_CONCURRENCY, default 1000)",
            "--http-stack {asyncio,uvloop,auto} uvicorn's event loop and HTTP parser: asyncio (the standard"
            " library's loop, h11), uvloop (uvloop and httptools, when installed: pip install uvloop httptools) or"
            " auto (uvloop when both are installed) (docs/decisions/0052) (env AS_HTTP_STACK, default asyncio)",
            "--dynamic-registration {open,closed} open: anyone may register a client (RFC 7591); closed: the"
            " registration endpoints answer 403 and the metadata names none, only `clients add` and client ID"
            " metadata documents make clients (docs/decisions/0025) (env AS_DYNAMIC_REGISTRATION, default open)",
            "--rate-limit-authorize RATE_LIMIT_AUTHORIZE authorization requests per client address (each writes a"
            " journey; issue 11) (env AS_RATE_LIMIT_AUTHORIZE, default 60/min)",
            "--rate-limit-register RATE_LIMIT_REGISTER registrations per client address (RFC 7591 §5)"
            " (env AS_RATE_LIMIT_REGISTER, default 60/10min)",
            "--rate-limit-token-client RATE_LIMIT_TOKEN_CLIENT token requests per authenticated client_id"
            " (a public client's: per client_id and address) (env AS_RATE_LIMIT_TOKEN_CLIENT, default 60/min)",
            "--rate-limit-token-ip RATE_LIMIT_TOKEN_IP token requests per client address"
            " (env AS_RATE_LIMIT_TOKEN_IP, default 600/min)",
            "--rate-limit-login RATE_LIMIT_LOGIN sign-in attempts per client address and username"
            " (env AS_RATE_LIMIT_LOGIN, default 10/min)",
            "--rate-limit-login-ip RATE_LIMIT_LOGIN_IP sign-in attempts per client address"
            " (env AS_RATE_LIMIT_LOGIN_IP, default 100/min)",
            "--rate-limit-fetch RATE_LIMIT_FETCH client metadata document and jwks_uri fetches per client address;"
            " answers from the cache do not count (env AS_RATE_LIMIT_FETCH, default 30/min)",
            "--rate-limit-revoke RATE_LIMIT_REVOKE revocation requests per client address (RFC 7009 §2)"
            " (env AS_RATE_LIMIT_REVOKE, default 120/min)",
            "--rate-limit-introspect-failures RATE_LIMIT_INTROSPECT_FAILURES failed authentications at the"
            " introspection endpoint per client address; with none left, every introspection request from it is"
            " refused (RFC 7662 §4) (env AS_RATE_LIMIT_INTROSPECT_FAILURES, default 30/min)",
            "--login-lockout-failures LOGIN_LOCKOUT_FAILURES failed passwords for one username from one address that"
            " lock it there (and failed admin sign-ins that lock an address out of the admin pages)"
            " (env AS_LOGIN_LOCKOUT_FAILURES, default 5)",
            "--login-lockout-window LOGIN_LOCKOUT_WINDOW seconds within which those failures count"
            " (env AS_LOGIN_LOCKOUT_WINDOW, default 900)",
            "--login-lockout-duration LOGIN_LOCKOUT_DURATION seconds the first lock lasts; each new one of the same"
            " lock twice as long, up to a day (env AS_LOGIN_LOCKOUT_DURATION, default 900)",
            "--client-idle-ttl CLIENT_IDLE_TTL seconds after which a registered client that was issued no token is"
            " deleted, unless it holds a live refresh token (env AS_CLIENT_IDLE_TTL, default 2592000)",
            "--client-cleanup-interval CLIENT_CLEANUP_INTERVAL seconds between two cleanups of idle clients and"
            " abandoned journeys (env AS_CLIENT_CLEANUP_INTERVAL, default 3600)",
            "--journey-retention JOURNEY_RETENTION seconds a journey that ended without a grant (failed, denied,"
            " expired) is kept before it is deleted (env AS_JOURNEY_RETENTION, default 2592000)",
            "--dpop-nonce require a server nonce in DPoP proofs at the token endpoint (RFC 9449 §8): a proof without"
            " the current one is answered use_dpop_nonce with a DPoP-Nonce header (docs/dpop.md)"
            " (env AS_DPOP_NONCE, default off)",
            "--allow-loopback-client-metadata development only: fetch client metadata documents and jwks_uri from"
            " loopback (http or https); needs a loopback host and issuer"
            " (env AS_ALLOW_LOOPBACK_CLIENT_METADATA, default off; on in demo mode)",
            "--client-metadata-timeout CLIENT_METADATA_TIMEOUT seconds a client metadata document or jwks_uri fetch"
            " may take, all in (env AS_CLIENT_METADATA_TIMEOUT, default 5)",
            "--client-metadata-cache-min CLIENT_METADATA_CACHE_MIN seconds a fetched client metadata document or JWK"
            " Set is reused at least (unless no-store) (env AS_CLIENT_METADATA_CACHE_MIN, default 60)",
            "--client-metadata-cache-max CLIENT_METADATA_CACHE_MAX seconds a fetched client metadata document or JWK"
            " Set is reused at most, whatever its max-age (env AS_CLIENT_METADATA_CACHE_MAX, default 3600)",
            "--client-metadata-failure-cache CLIENT_METADATA_FAILURE_CACHE seconds a failed client metadata document"
            " or jwks_uri fetch (or an invalid answer) is answered from memory instead of fetched again (0: never)"
            " (env AS_CLIENT_METADATA_FAILURE_CACHE, default 30)",
            "--client-metadata-fetches CLIENT_METADATA_FETCHES client metadata document and jwks_uri fetches running"
            " at once; a request that gets no slot within 1 s is answered temporarily_unavailable (503)"
            " (env AS_CLIENT_METADATA_FETCHES, default 16)",
            "--client-metadata-fetches-per-host CLIENT_METADATA_FETCHES_PER_HOST of those, fetches running at once"
            " from one host (env AS_CLIENT_METADATA_FETCHES_PER_HOST, default 2)",
            "--admin-username ADMIN_USERNAME username of the admin pages"
            " (env AS_ADMIN_USERNAME, default unset: admin pages off; admin in demo mode)",
            "--admin-password ADMIN_PASSWORD password of the admin pages, at least 16 characters; prefer the"
            " environment variable to the option"
            " (env AS_ADMIN_PASSWORD, default unset: admin pages off; demo-admin-pages in demo mode)",
            "--downstream-token-key DOWNSTREAM_TOKEN_KEY base64url of 32 random octets that seal downstream tokens at"
            " rest (AES-256-GCM), e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`; prefer"
            " the environment variable (env AS_DOWNSTREAM_TOKEN_KEY, default unset: MCP servers with connections"
            " cannot be authorized; a key of the process's own in demo mode)",
            "--key-encryption-key KEY_ENCRYPTION_KEY base64url of 32 random octets that seal the token signing keys"
            " at rest (AES-256-GCM), e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`;"
            " required to serve and for `keys`; prefer the environment variable (env AS_KEY_ENCRYPTION_KEY,"
            " default unset: the server refuses to start; in demo mode a key kept in the file DB.key)",
            # Issue 16: the password form beside the identity providers' buttons, on unless turned off.
            "--local-accounts, --no-local-accounts show the password form for the accounts of this server"
            " (`users add`); --no-local-accounts leaves only the identity providers' buttons"
            " (`identity-providers add`) (env AS_LOCAL_ACCOUNTS, default on)",
            "--log-level {debug,info,warning,error} log level (env AS_LOG_LEVEL, default info)",
            "--log-format {text,json} text: one readable line per record; json: one JSON object per line (time,"
            " level, logger, message, and the access line's fields) (env AS_LOG_FORMAT, default text)",
            "--metrics-port METRICS_PORT port of a second listener that serves only /metrics (Prometheus text"
            " format), never the public port; 0: no metrics (env AS_METRICS_PORT, default 0: off)",
            "--metrics-host METRICS_HOST interface of the metrics listener; beyond loopback only on a network the"
            " scraper alone reaches (env AS_METRICS_HOST, default 127.0.0.1)",
            "--cache-check-interval CACHE_CHECK_INTERVAL seconds between an instance's looks at what other instances"
            " and the command line changed (MCP servers, signing keys); a new signing key is published at once and"
            " signs from twice this after it was made (env AS_CACHE_CHECK_INTERVAL, default 1.0)",
            "--workers WORKERS processes serving this issuer from this database on this port (several instances:"
            " docs/deployment.md) (env AS_WORKERS, default 1)",
        ]
        assert [entry for entry in expected if entry not in text] == []
        assert text.count("(env AS_") == len(expected)
