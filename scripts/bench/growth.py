"""Databases with many journeys, made fast: one real flow, then its rows copied in bulk by SQL.

The template is what a real full flow (register through the MCP endpoint, authorize, redeem,
refresh) leaves in a fresh database: its client, journey, events, MCP flow, refresh tokens and
whatever else refers to the client or the journey. Each copy gets the same suffix on every key
(primary keys, unique columns, references to the client and the journey), so the copies are
distinct, consistent rows of the same shape, and every index grows as it would in use.
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx2

from scripts.stack import start_authorization_server

#: Tables that hold one flow's rows: these two, and those referring to them.
ROOTS = ("clients", "authorization_journeys")


def build(folder: Path, journeys: int) -> int:
    """A database in ``folder`` with ``journeys`` clients and journeys; returns its size in bytes."""
    from scripts.bench.run import CLIENT, Endpoints, obtain_tokens  # the flow the benchmarks drive

    server = start_authorization_server(folder)
    try:
        endpoints = Endpoints.ours(server)
        with httpx2.Client(timeout=30) as http:
            client_id = http.post(endpoints.register, json=CLIENT).raise_for_status().json()["client_id"]
            tokens = obtain_tokens(http, endpoints, client_id)
            form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": tokens["refresh_token"]}
            http.post(endpoints.token, data=form).raise_for_status()
    finally:
        server.program.stop()
    with closing(sqlite3.connect(server.db, isolation_level=None)) as db:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("BEGIN")
        for table in _flow_tables(db):
            _copy(db, table, journeys - 1)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return server.db.stat().st_size


def _flow_tables(db: sqlite3.Connection) -> list[str]:
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    referring = [t for t in tables if any(fk[2] in ROOTS for fk in db.execute(f"PRAGMA foreign_key_list({t})"))]
    return [*ROOTS, *referring]


def _copy(db: sqlite3.Connection, table: str, copies: int) -> None:
    """``copies`` more of the table's rows, each with the copy's number appended to its keys.

    The names in the SQL come from the schema itself, never from input."""
    columns = db.execute(f"PRAGMA table_info({table})").fetchall()  # cid, name, type, notnull, default, pk
    keys = {fk[3] for fk in db.execute(f"PRAGMA foreign_key_list({table})") if fk[2] in ROOTS}
    for index in db.execute(f"PRAGMA index_list({table})"):
        if index[2]:  # unique (primary keys of non-rowid columns included)
            keys.update(info[2] for info in db.execute(f"PRAGMA index_info({index[1]})"))
    keys.update(column[1] for column in columns if column[5] and column[2] == "TEXT")
    values = []
    for _, name, kind, *_rest in columns:
        if kind == "INTEGER" and name in {c[1] for c in columns if c[5]}:
            values.append("NULL")  # a rowid: SQLite numbers the copies
        elif name in keys:
            values.append(f"{name} || '-' || copy.n")
        else:
            values.append(name)
    names, selected = ", ".join(column[1] for column in columns), ", ".join(values)
    copy = "WITH RECURSIVE copy(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM copy WHERE n < ?) "
    db.execute(f"{copy}INSERT INTO {table} ({names}) SELECT {selected} FROM {table} AS template, copy", (copies,))  # noqa: S608
