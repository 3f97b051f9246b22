"""The PostgreSQL engine behind the storage seam (issue 13; docs/decisions/0044, 0045).

The tests marked with the ``pg`` fixture need PostgreSQL: they run on ``pytest --engine
postgresql`` (``make test`` does, in a throwaway cluster) and are skipped otherwise; the others
check what both engines share.
"""

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from mcp_authz.authorization_server.db import (
    Database,
    DatabaseNewerThanCode,
    PoolOptions,
    Transaction,
    migration_scripts,
    parse_target,
    shown,
)
from mcp_authz.authorization_server.db_postgresql import PostgresDatabase, to_postgresql
from mcp_authz.authorization_server.metrics import Metrics
from scripts.postgres import ThrowawayCluster
from scripts.stack import (
    UNLIMITED_RATES,
    AuthorizationServer,
    free_port,
    run_cli,
    run_cli_in_process,
    start_authorization_server,
)
from tests.authorization_server.flows import PUBLIC_CLIENT, Issuer, Registered, execute, rows
from tests.postgresql import Databases, TcpProxy, in_a_thread, pg_execute, pg_rows
from tests.waiting import eventually

MIGRATIONS = Path(__file__).resolve().parents[2] / "authorization_server" / "migrations"


@pytest.fixture(name="pg")
def _pg(databases: Databases | None) -> Databases:
    if databases is None:
        pytest.skip("needs PostgreSQL: pytest --engine postgresql")
    return databases


# What both engines share ----------------------------------------------------------------------


def test_every_sqlite_migration_has_its_postgresql_twin_with_the_same_number_and_name():
    """Issue 13: migrations for both engines, numbered alike (docs/decisions/0045). A migration added
    for SQLite alone (migrations/NNNN_name.sql) fails here until its twin is in migrations/postgresql/."""
    sqlite = [(number, name) for number, name, _ in migration_scripts("sqlite")]
    postgresql = [(number, name) for number, name, _ in migration_scripts("postgresql")]
    assert postgresql == sqlite
    assert [number for number, _ in sqlite] == list(range(1, len(sqlite) + 1))


def test_the_postgresql_migrations_use_no_sqlite_only_syntax():
    """Issue 13: STRICT tables, BLOB, RAISE(ABORT) and INSERT OR are SQLite's; their twins say it PostgreSQL's way."""
    for script in sorted((MIGRATIONS / "postgresql").glob("*.sql")):
        code = "\n".join(line.split("--")[0] for line in script.read_text().splitlines())
        for sqlite_only in (") STRICT", " BLOB", "RAISE(ABORT", "INSERT OR", "AUTOINCREMENT", "PRAGMA"):
            assert sqlite_only not in code, f"{script.name}: {sqlite_only}"


def test_placeholders_are_numbered_in_order_but_not_inside_quotes():
    """Issue 13: repositories write SQLite's ``?``; PostgreSQL gets ``$1, $2`` ... once per statement text."""
    sql = "SELECT '?', \"a?b\", x FROM t WHERE a = ? AND b = 'it''s ?' AND c = ?"
    assert to_postgresql(sql) == "SELECT '?', \"a?b\", x FROM t WHERE a = $1 AND b = 'it''s ?' AND c = $2"
    assert to_postgresql(sql) is to_postgresql(sql)  # cached: translated once


@pytest.mark.parametrize(
    ("target", "engine", "address"),
    [
        ("var/as.sqlite3", "sqlite", "var/as.sqlite3"),
        ("sqlite:///var/as.sqlite3", "sqlite", "var/as.sqlite3"),
        ("sqlite:////srv/as.sqlite3", "sqlite", "/srv/as.sqlite3"),
        ("postgresql://as@db.internal/as", "postgresql", "postgresql://as@db.internal/as"),
        ("postgres://as@db.internal/as", "postgresql", "postgres://as@db.internal/as"),
    ],
)
def test_db_names_the_engine_by_a_path_or_a_url(target: str, engine: str, address: str):
    """Issue 13: ``--db`` takes a path or ``sqlite:///PATH`` (SQLite) or ``postgresql://`` (PostgreSQL)."""
    assert parse_target(target) == (engine, address)


def test_another_database_scheme_stops_the_program_with_one_line():
    """Issue 13: a bad setting stops the program with one line (``--db mysql://...``)."""
    result = run_cli_in_process(
        ["-m", "authorization_server", "--db", "mysql://as@db/as", "users", "list"], check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "authorization_server: --db mysql://...: not a database this server runs on (a path, sqlite:/// or postgresql://)"
    ]


def test_the_log_and_print_config_never_show_the_database_password():
    """Never log a secret: the URL shown in the log and by ``--print-config`` hides its password."""
    assert shown("postgresql://as:s3cret@db:5432/as") == "postgresql://as:***@db:5432/as"
    assert shown("postgresql://as@db/as") == "postgresql://as@db/as"
    argv = ["-m", "authorization_server", "--db", "postgresql://as:s3cret@db/as", "--print-config"]
    printed = run_cli_in_process(argv).stdout
    assert 'db = "postgresql://as:***@db/as"' in printed
    assert "s3cret" not in printed


def test_a_sqlite_database_newer_than_the_code_refuses_to_start_with_one_line(tmp_path: Path):
    """Issue 13: the same refusal on SQLite; ``db upgrade`` takes a path too."""
    path = tmp_path / "as.sqlite3"
    last = max(number for number, _, _ in migration_scripts("sqlite"))
    upgraded = run_cli_in_process(["-m", "authorization_server", "db", "upgrade", "--db", str(path)])
    assert upgraded.stdout.strip() == f"database {path} is at migration {last:04d}"
    execute(path, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'then')")

    refused = run_cli_in_process(["-m", "authorization_server", "users", "list", "--db", str(path)], check=False)

    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert f"the database has migration 9999, newer than this code's {last:04d}" in line


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_server_itself_refuses_to_start_with_one_line_on_a_database_it_cannot_use(tmp_path: Path, engine: str):
    """Issue 13 ("a database newer than the code refuses to start with one clear line") and docs/deployment.md
    ("a server that cannot reach PostgreSQL when it starts stops with one line"): the server, not a command,
    started on a SQLite file a newer version migrated, or on a PostgreSQL nobody listens at, exits with one
    line and serves nothing (a real process: one that served would time out here, not hang the run)."""
    port = free_port()
    if engine == "sqlite":
        db = str(tmp_path / "as.sqlite3")
        run_cli_in_process(["-m", "authorization_server", "db", "upgrade", "--db", db])
        execute(Path(db), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'then')")
        says = "the database has migration 9999, newer than this code's"
    else:
        db, says = f"postgresql://as@127.0.0.1:{free_port()}/as", "the database cannot be reached"
    key = {"AS_KEY_ENCRYPTION_KEY": "k" * 43}

    refused = run_cli(["-m", "authorization_server", "--db", db, "--port", str(port)], check=False, env=key)

    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("authorization_server: ") and says in line, line


def test_two_instances_starting_at_once_on_a_new_sqlite_file_do_not_race(tmp_path: Path):
    """Issue 13 ("two instances starting at once against a new database must not race"), on SQLite: several
    openings of one new file at once, each on connections of its own as another process would be; each
    migration is applied once (``_apply`` looks again under the write lock) and every opening starts."""
    path = tmp_path / "as.sqlite3"

    async def start_four() -> list[str]:
        opened = await asyncio.gather(*(Database.open(path) for _ in range(4)), return_exceptions=True)
        for database in opened:
            if isinstance(database, Database):
                await database.close()
        return [repr(failed) for failed in opened if isinstance(failed, BaseException)]

    failures = asyncio.run(start_four())

    assert failures == []
    applied = [row[0] for row in rows(path, "SELECT version FROM schema_migrations ORDER BY version")]
    assert applied == [number for number, _, _ in migration_scripts("sqlite")]


# Migrations on PostgreSQL --------------------------------------------------------------------------


def test_two_instances_starting_at_once_on_a_new_database_do_not_race(pg: Databases):
    """Issue 13: migrations applied at start inside an advisory lock; two instances at once both start,
    and each migration is applied once."""
    url = pg.empty()

    async def start_two() -> None:
        both = await asyncio.gather(*(PostgresDatabase.connect(url, PoolOptions(size=1)) for _ in range(2)))
        for database in both:
            await database.close()

    in_a_thread(start_two)
    applied = pg_rows(url, "SELECT version FROM schema_migrations ORDER BY version")
    assert [row[0] for row in applied] == [number for number, _, _ in migration_scripts("postgresql")]
    pg.drop(url)


def test_db_upgrade_applies_the_migrations_without_serving(pg: Databases):
    """Issue 13: ``python -m authorization_server db upgrade --db URL`` migrates and stops."""
    url = pg.empty()
    result = run_cli_in_process(["-m", "authorization_server", "db", "upgrade", "--db", url])
    last = max(number for number, _, _ in migration_scripts("postgresql"))
    assert result.stdout.strip() == f"database {url} is at migration {last:04d}"
    assert len(pg_rows(url, "SELECT version FROM schema_migrations")) == last
    pg.drop(url)


def test_a_database_newer_than_the_code_refuses_to_start_with_one_line(pg: Databases):
    """Issue 13: a database migrated by a newer version is refused, in one line, and left as it was."""
    url = pg.new()
    pg_execute(url, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'then')")

    result = run_cli_in_process(["-m", "authorization_server", "db", "upgrade", "--db", url], check=False)

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "the database has migration 9999, newer than this code's" in line
    with pytest.raises(DatabaseNewerThanCode):
        in_a_thread(lambda: PostgresDatabase.connect(url, PoolOptions(size=1)))
    pg.drop(url)


# Units of work on PostgreSQL ---------------------------------------------------------------------


def test_concurrent_read_check_write_units_each_see_the_others_write(pg: Databases):
    """Issue 13 / decision 0045: units that read a row and write it back from what they read, run at
    once, all count (the conflicting ones run again on a new snapshot), as SQLite's one writer gives."""
    url = pg.new()
    pg_execute(url, "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    pg_execute(url, "INSERT INTO counter VALUES (1, 0)")

    async def increment(tx: Transaction) -> None:
        row = await tx.fetch_one("SELECT n FROM counter WHERE id = ?", (1,))
        assert row is not None
        await tx.execute("UPDATE counter SET n = ? WHERE id = ?", (row["n"] + 1, 1))

    metrics = Metrics()

    async def many() -> int:
        database = await PostgresDatabase.connect(url, PoolOptions(size=8))
        database.observe(metrics.database_event)
        try:
            await asyncio.gather(*(database.run(increment) for _ in range(40)))
            return database.retries
        finally:
            await database.close()

    retries = in_a_thread(many)
    assert pg_rows(url, "SELECT n FROM counter")[0]["n"] == 40
    assert retries > 0  # they did conflict: the guarantee came from the retries, not from luck
    # and /metrics says so (issue 17, Ops surface): as_database_retries_total, by the conflict's kind
    counted = metrics.registry.get_sample_value("as_database_retries_total", {"reason": "SerializationError"})
    assert counted == retries
    pg.drop(url)


def test_rows_are_read_by_name_and_by_position_as_sqlite_rows_are(pg: Databases):
    """Issue 13: the same ``Transaction`` API on both engines: ``row["col"]`` and ``row[0]``."""
    url = pg.new()

    async def read() -> tuple[str, str, int]:
        database = await PostgresDatabase.connect(url, PoolOptions(size=1))
        try:
            await database.run(
                lambda tx: tx.execute(
                    "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
                    ("u1", "ada", "x", "2026-01-01T00:00:00+00:00"),
                )
            )
            row = await database.run(lambda tx: tx.fetch_one("SELECT username, id FROM users WHERE id = ?", ("u1",)))
            assert row is not None
            changed = await database.run(
                lambda tx: tx.execute("UPDATE users SET username = ? WHERE id = ?", ("b", "u1"))
            )
            return row["username"], row[1], changed
        finally:
            await database.close()

    assert in_a_thread(read) == ("ada", "u1", 1)
    pg.drop(url)


def test_without_a_statement_cache_units_run_as_behind_a_transaction_pooler(pg: Databases):
    """Issue 13: prepared statements configurable off (``--db-statement-cache 0``) for PgBouncer's
    transaction pooling: the same statements run, none is kept prepared on the connection."""
    url = pg.new()

    async def run() -> tuple[int, int]:
        database = await PostgresDatabase.connect(url, PoolOptions(size=1, statement_cache=0))
        try:
            for _ in range(3):
                await database.run(lambda tx: tx.fetch_one("SELECT count(*) FROM users WHERE username = ?", ("x",)))
            kept = await database.run(lambda tx: tx.fetch_one("SELECT count(*) FROM pg_prepared_statements"))
            assert kept is not None
            return 3, int(kept[0])
        finally:
            await database.close()

    assert in_a_thread(run) == (3, 0)
    pg.drop(url)


def test_a_nul_character_in_a_parameter_is_invalid_request_never_a_server_error(fresh_as: AuthorizationServer):
    """OAuth 2.1 §3.1 / RFC 6749 §5.2: a client_id with a NUL character (which PostgreSQL's text cannot hold,
    unlike SQLite's) gets a readable 400 page at /authorize and a JSON 4xx at /token, never a 500."""
    with httpx2.Client(timeout=10) as http:
        page = http.get(f"{fresh_as.url}/authorize", params={"client_id": "a\x00b", "response_type": "code"})
        api = http.post(
            f"{fresh_as.url}/token",
            data={"grant_type": "authorization_code", "client_id": "a\x00b", "code": "c", "code_verifier": "v" * 43},
        )
    assert page.status_code == 400, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert 400 <= api.status_code < 500, api.text
    assert api.json()["error"] in ("invalid_request", "invalid_client")


# PostgreSQL unreachable --------------------------------------------------------------------------


@pytest.fixture(name="proxied")
def _proxied(pg: Databases, tmp_path: Path) -> Iterator[tuple[Issuer, TcpProxy, str]]:
    """An in-process server whose PostgreSQL is reached through a relay the test can cut."""
    url = pg.new()
    parts = urlsplit(url)
    proxy = TcpProxy(parts.port or 5432)
    through = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
    server = start_authorization_server(tmp_path, "--db-timeout", "2", demo=False, in_process=True, database=through)
    with httpx2.Client(timeout=10) as http:
        yield Issuer(http, server.url, f"{server.url}/register"), proxy, url
    server.program.stop()
    proxy.cut()
    pg.drop(url)


def test_database_unreachable_answers_503_with_retry_after_then_recovers(proxied: tuple[Issuer, TcpProxy, str]):
    """Issue 13: PostgreSQL unreachable: a clean 503 ``temporarily_unavailable`` with ``Retry-After``
    (RFC 6749 §4.1.2.1, RFC 9110 §10.2.3), JSON for the API and a readable page for the browser, never a
    500 nor a hang; once it is back the server reconnects by itself and nothing acknowledged is lost."""
    issuer, proxy, url = proxied
    before = issuer.register()

    proxy.cut()
    api = issuer.http.post(issuer.registration_endpoint, json=PUBLIC_CLIENT)
    page = issuer.http.get(
        issuer.authorization_endpoint,
        params={"client_id": before.client_id, "response_type": "code"},
        headers={"Accept": "text/html"},
    )

    assert api.status_code == 503, api.text
    assert api.json()["error"] == "temporarily_unavailable"
    assert int(api.headers["Retry-After"]) > 0
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "temporarily_unavailable" in page.text

    proxy.restore()
    after = issuer.register()
    stored = rows(url, "SELECT client_id FROM clients WHERE client_id IN (?, ?)", before.client_id, after.client_id)
    assert sorted(row[0] for row in stored) == sorted([before.client_id, after.client_id])


#: The outage test's ``--db-timeout``: no request may take longer than this and ``MARGIN``, outage or not.
DB_TIMEOUT, MARGIN = 2, 3.0
LOOPS = 3


@dataclass
class Chain:
    """One loop of the load: its client's refresh chain, the clients it registered, every answer it got."""

    issuer: Issuer
    client: Registered
    refresh_token: str  # the last one answered with 200: acknowledged
    registered: list[str] = field(default_factory=list)
    answers: list[tuple[str, int, float, str]] = field(default_factory=list)  # (phase, status, seconds, detail)

    def count(self, phase: str, status: int) -> int:
        return sum(1 for answer in self.answers if answer[0] == phase and answer[1] == status)

    def went_wrong(self) -> bool:
        """Whether any answer was neither a success nor a clean 503 (the test then stops waiting and fails)."""
        return any(status not in (200, 201, 503) or detail for _, status, _, detail in self.answers)


def test_postgresql_stopped_and_started_under_load_answers_503_then_recovers_losing_nothing_acknowledged(
    pg: Databases, tmp_path: Path
):
    """Issue 13, "PostgreSQL stopped and started under load": loops registering clients (RFC 7591 §3.2.1) and
    rotating refresh tokens (OAuth 2.1 §4.3) run while PostgreSQL (a cluster of this test's own) is stopped with
    ``pg_ctl stop -m fast`` and started again. During the outage every answer is ``503`` with ``Retry-After``
    and ``temporarily_unavailable`` (RFC 6749 §5.2, RFC 9110 §10.2.3) within ``--db-timeout`` and a margin, never
    a 500; afterwards the loops succeed again with the server not restarted, and nothing acknowledged is lost:
    the last refresh token of each chain answered 200 still refreshes, every client answered 201 exists."""
    cluster = ThrowawayCluster()
    # grace: a refresh whose COMMIT went through as its connection broke was answered 503; presented again after
    # the outage it gets the same pair (decision 0018) however long this machine takes to start PostgreSQL
    env = {**UNLIMITED_RATES, "AS_REFRESH_GRACE_PUBLIC": "60"}
    options = ("--db-timeout", str(DB_TIMEOUT))
    server = start_authorization_server(tmp_path, *options, env=env, in_process=True, database=cluster.url)
    phase = ["before"]
    stop = threading.Event()
    try:
        with httpx2.Client(timeout=10) as http:
            demo = demo_issuer(http, server.url, 8000)
            chains = []
            for _ in range(LOOPS):
                client = demo.register()
                chains.append(Chain(demo, client, demo.tokens(client)["refresh_token"]))

        def load(chain: Chain) -> None:
            with httpx2.Client(timeout=30) as own:
                issuer = replace(chain.issuer, http=own)
                turn = 0
                while not stop.is_set():
                    turn += 1
                    sent_in, started = phase[0], time.monotonic()
                    try:
                        if turn % 2:
                            answer = own.post(issuer.registration_endpoint, json=PUBLIC_CLIENT)
                        else:
                            answer = issuer.refresh(chain.client, chain.refresh_token)
                    except httpx2.TransportError as error:  # no answer at all: as wrong as a 500
                        chain.answers.append((sent_in, 0, time.monotonic() - started, repr(error)))
                        continue
                    seconds = time.monotonic() - started
                    during = sent_in if sent_in == phase[0] else "between"  # sent in one phase, answered in the next
                    chain.answers.append((during, answer.status_code, seconds, outage_answer(answer)))
                    if answer.status_code == 201:
                        chain.registered.append(answer.json()["client_id"])
                    elif answer.status_code == 200:
                        chain.refresh_token = answer.json()["refresh_token"]

        workers = [threading.Thread(target=load, args=(chain,)) for chain in chains]
        for worker in workers:
            worker.start()
        try:
            eventually(lambda: went_wrong(chains) or all(chain.count("before", 200) >= 2 for chain in chains))
            phase[0] = "halting"
            cluster.halt()
            phase[0] = "down"
            eventually(lambda: went_wrong(chains) or all(chain.count("down", 503) >= 3 for chain in chains))
            phase[0] = "resuming"
            cluster.resume()
            phase[0] = "after"
            eventually(
                lambda: (
                    went_wrong(chains)
                    or all(chain.count("after", 200) >= 2 and chain.count("after", 201) >= 2 for chain in chains)
                )
            )
        finally:
            stop.set()
            for worker in workers:
                worker.join()

        answers = [answer for chain in chains for answer in chain.answers]
        assert {status for _, status, _, _ in answers} <= {200, 201, 503}, [a for a in answers if a[1] >= 500]
        down = [answer for answer in answers if answer[0] == "down"]
        assert {(status, detail) for _, status, _, detail in down} == {(503, "")}, down
        assert all(detail == "" for _, status, _, detail in answers if status == 503), answers
        assert max(seconds for _, _, seconds, _ in answers) < DB_TIMEOUT + MARGIN, max(answers, key=lambda a: a[2])

        with httpx2.Client(timeout=10) as http:
            demo = demo_issuer(http, server.url, 8000)
            refreshed = [demo.refresh(chain.client, chain.refresh_token).status_code for chain in chains]
        registered = [client_id for chain in chains for client_id in chain.registered]
        stored = pg_rows(cluster.url, "SELECT client_id FROM clients WHERE client_id = ANY(?)", registered)
        assert refreshed == [200] * LOOPS
        assert sorted(row[0] for row in stored) == sorted(registered)
    finally:
        stop.set()
        server.program.stop()
        cluster.stop()


def went_wrong(chains: list[Chain]) -> bool:
    return any(chain.went_wrong() for chain in chains)


def outage_answer(answer: httpx2.Response) -> str:
    """What is wrong with a 503 (empty when it is the clean one: JSON ``temporarily_unavailable``, ``Retry-After``)."""
    if answer.status_code != 503:
        return ""
    if not answer.headers.get("Retry-After", "").isdigit() or int(answer.headers["Retry-After"]) <= 0:
        return "no Retry-After"
    if answer.json().get("error") != "temporarily_unavailable":
        return answer.text
    return ""


# db copy -----------------------------------------------------------------------------------------


def test_db_copy_moves_a_sqlite_deployment_into_postgresql_and_refuses_a_target_with_rows(
    pg: Databases, tmp_path: Path
):
    """Issue 13: ``db copy --from sqlite:///... --to postgresql://...`` copies every table (in the order
    of the foreign keys, in one transaction); the server then runs on the copy (a refresh token issued on
    SQLite is rotated on PostgreSQL, its journey stamped); a second copy into it is refused, writing nothing."""
    mcp_port = free_port()
    sqlite_server = start_authorization_server(tmp_path, mcp_port=mcp_port, in_process=True)
    with httpx2.Client(timeout=10) as http:
        demo = demo_issuer(http, sqlite_server.url, mcp_port)
        client = demo.register()
        issued = demo.tokens(client)
    sqlite_server.program.stop()
    source = Path(sqlite_server.db)
    tables = [row[0] for row in rows(source, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    target = pg.empty()

    command = ["-m", "authorization_server", "db", "copy", "--from", f"sqlite:///{source}", "--to", target]
    copied = run_cli_in_process(command)

    assert copied.stdout.strip().splitlines()[-1].startswith("copied ")
    for table in tables:
        if table != "schema_migrations":
            [count] = rows(source, f"SELECT count(*) FROM {table}")  # noqa: S608 - names from the catalog
            assert pg_rows(target, f"SELECT count(*) FROM {table}")[0][0] == count[0], table  # noqa: S608
    for table in ("users", "clients", "signing_keys", "refresh_tokens", "journey_events", "authorization_journeys"):
        assert pg_rows(target, f"SELECT count(*) FROM {table}")[0][0] > 0, table  # noqa: S608
    events = pg_rows(target, "SELECT count(*) FROM journey_events")[0][0]

    again = run_cli_in_process(command, check=False)
    assert again.returncode == 1
    assert "the target database is not empty" in again.stderr
    assert pg_rows(target, "SELECT count(*) FROM journey_events")[0][0] == events

    on_postgresql = start_authorization_server(
        tmp_path, mcp_port=mcp_port, in_process=True, database=target, port=sqlite_server.port
    )
    try:
        with httpx2.Client(timeout=10) as http:
            refreshed = demo_issuer(http, on_postgresql.url, mcp_port).refresh(client, issued["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert pg_rows(target, "SELECT count(*) FROM journey_events")[0][0] > events  # the identity went on
    finally:
        on_postgresql.program.stop()
        pg.drop(target)


def demo_issuer(http: httpx2.Client, url: str, mcp_port: int) -> Issuer:
    """The demo MCP server's issuer of a demo-mode server at ``url``."""
    return Issuer(
        http,
        f"{url}/mcp/demo",
        f"{url}/api/v1/authz/clients/register/mcp/demo/latest",
        resource=f"http://localhost:{mcp_port}/mcp",
    )
