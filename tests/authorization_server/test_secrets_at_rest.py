"""The signing keys and the database at rest (issue 11, item 6; RFC 9700 §4.15, RFC 6819 §5.1.4.1).

The private keys that sign every access token are sealed with AES-256-GCM under
``AS_KEY_ENCRYPTION_KEY`` (demo mode: a key file beside the database), a database written before
that is sealed in place at start, and the database files are the server user's alone (0600).
"""

import base64
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import httpx2
import jwt
import pytest

from mcp_authz.authorization_server.db import Database
from mcp_authz.authorization_server.encryption import Sealer, new_key, parse_key
from mcp_authz.authorization_server.tokens.keys import SEALED_PREFIX
from scripts.stack import AuthorizationServer, free_port, run_cli, start_authorization_server
from tests.authorization_server.flows import Issuer, execute, rows

NO_KEY = {"AS_KEY_ENCRYPTION_KEY": ""}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def demo_issuer(http: httpx2.Client, server: AuthorizationServer) -> Issuer:
    registration = f"{server.url}/api/v1/authz/clients/register/mcp/demo/latest"
    return Issuer(http, server.issuer_for("demo"), registration, resource="http://localhost:8000/mcp")


def verifies(token: str, server: AuthorizationServer) -> bool:
    """RFC 9068 §4: the token's signature checks against the key its ``kid`` names in the server's JWK Set."""
    kid = jwt.get_unverified_header(token)["kid"]
    keys = {key["kid"]: key for key in httpx2.get(f"{server.url}/jwks.json").json()["keys"]}
    if kid not in keys:
        return False
    public_key = jwt.PyJWK(keys[kid]).key
    try:
        jwt.decode(token, public_key, algorithms=[keys[kid]["alg"]], options={"verify_aud": False})
    except jwt.InvalidTokenError:
        return False
    return True


class TestTheKeyColumn:
    def test_the_private_key_column_holds_no_pem(self, fresh_as: AuthorizationServer):
        """Issue 11 item 6: the key that signs every token is stored sealed, never as a PEM."""
        [stored] = [row["private_key"] for row in rows(fresh_as.db, "SELECT private_key FROM signing_keys")]

        assert stored.startswith(SEALED_PREFIX)
        assert "BEGIN" not in stored
        assert b"PRIVATE KEY" not in base64.urlsafe_b64decode(stored.removeprefix(SEALED_PREFIX))

    def test_an_old_database_with_a_plaintext_key_is_sealed_at_start_and_its_tokens_still_verify(
        self, tmp_path: Path, http: httpx2.Client
    ):
        """Issue 11 item 6, docs/decisions/0027: the data migration seals the PEM in place, same ``kid``."""
        server = start_authorization_server(tmp_path)
        try:
            demo = demo_issuer(http, server)
            before = demo.tokens(demo.register())["access_token"]
            server.program.stop()
            # What an older version left: the same key, as a PEM in clear.
            sealer = Sealer(parse_key(server.env["AS_KEY_ENCRYPTION_KEY"]))
            [(kid, stored)] = rows(server.db, "SELECT kid, private_key FROM signing_keys")
            sealed = base64.urlsafe_b64decode(stored.removeprefix(SEALED_PREFIX))
            pem = sealer.open(sealed, f"signing_keys.private_key {kid}")
            execute(server.db, "UPDATE signing_keys SET private_key = ? WHERE kid = ?", pem, kid)
            assert pem.startswith("-----BEGIN PRIVATE KEY-----")

            server.program.start()
            after = demo.tokens(demo.register())["access_token"]

            [(kid_now, stored_now)] = rows(server.db, "SELECT kid, private_key FROM signing_keys")
            assert (kid_now, stored_now[: len(SEALED_PREFIX)]) == (kid, SEALED_PREFIX)
            assert "BEGIN" not in stored_now
            assert verifies(before, server)
            assert jwt.get_unverified_header(after)["kid"] == kid  # the same key signs on
        finally:
            server.program.stop()


class TestTheKey:
    def test_a_server_without_the_key_refuses_to_start_with_one_line(self, tmp_path: Path):
        """Issue 11 item 6: outside demo mode the server needs AS_KEY_ENCRYPTION_KEY, and says so in one line."""
        db = tmp_path / "as.sqlite3"

        result = run_cli(
            ["-m", "authorization_server", "--port", str(free_port()), "--db", str(db)], check=False, env=NO_KEY
        )

        assert result.returncode == 2
        assert result.stderr.startswith("authorization_server: AS_KEY_ENCRYPTION_KEY is not set: the token signing")
        assert len(result.stderr.splitlines()) == 1
        assert not db.exists()

    def test_keys_commands_without_the_key_or_with_another_one_refuse_with_one_line(
        self, fresh_as: AuthorizationServer
    ):
        """Issue 11 item 6: `keys` opens the sealed keys; a missing or wrong key is one line, not a traceback."""
        missing = run_cli(
            ["-m", "authorization_server", "keys", "list", "--db", str(fresh_as.db)], check=False, env=NO_KEY
        )
        wrong = run_cli(
            ["-m", "authorization_server", "keys", "list", "--db", str(fresh_as.db)],
            check=False,
            env={"AS_KEY_ENCRYPTION_KEY": new_key()},
        )

        assert missing.returncode == 1 and "AS_KEY_ENCRYPTION_KEY is not set" in missing.stderr
        assert wrong.returncode == 1 and "does not open with this key_encryption_key" in wrong.stderr
        assert len(missing.stderr.splitlines()) == len(wrong.stderr.splitlines()) == 1

    def test_a_server_with_another_key_refuses_to_start_with_one_line(self, tmp_path: Path):
        """Issue 11 item 6: a key that does not open the stored signing keys is a bad setting: one line."""
        server = start_authorization_server(tmp_path, demo=False)
        server.program.stop()
        command = ["-m", "authorization_server", "--port", str(free_port()), "--db", str(server.db)]

        result = run_cli(command, check=False, env={"AS_KEY_ENCRYPTION_KEY": new_key()})

        assert result.returncode == 2
        assert result.stderr.startswith("authorization_server: signing key ")
        assert "does not open with this key_encryption_key" in result.stderr
        assert len(result.stderr.splitlines()) == 1

    def test_a_bad_key_is_refused_with_one_line(self, tmp_path: Path):
        """Issue 11 item 6: a key that is not 32 octets of base64url stops the program (a bad setting)."""
        result = run_cli(
            ["-m", "authorization_server", "keys", "list", "--db", str(tmp_path / "as.sqlite3")],
            check=False,
            env={"AS_KEY_ENCRYPTION_KEY": "shortkey"},
        )

        assert (result.returncode, result.stderr) == (
            2,
            "authorization_server: key_encryption_key must be 32 octets (base64url), not 6\n",
        )

    def test_demo_mode_keeps_a_key_of_its_own_beside_the_database_across_restarts(
        self, tmp_path: Path, http: httpx2.Client
    ):
        """Issue 11 item 6: without AS_KEY_ENCRYPTION_KEY, demo mode seals with a 0600 key file it keeps."""
        server = start_authorization_server(tmp_path, env=NO_KEY)
        try:
            demo = demo_issuer(http, server)
            before = demo.tokens(demo.register())["access_token"]
            server.program.stop()
            server.program.start()

            key_file = server.db.with_name(server.db.name + ".key")
            assert mode(key_file) == 0o600
            assert verifies(before, server)
            assert rows(server.db, "SELECT private_key FROM signing_keys")[0][0].startswith(SEALED_PREFIX)
        finally:
            server.program.stop()


class TestTheDatabaseFiles:
    @pytest.mark.sqlite_only("the modes of the SQLite file and its -wal and -shm")
    def test_the_database_and_its_wal_and_shm_are_0600(self, fresh_as: AuthorizationServer, http: httpx2.Client):
        """Issue 11 item 6: no other account of the machine reads the database, its WAL or its index."""
        Issuer(http, fresh_as.url, f"{fresh_as.url}/register").register()  # a write: the WAL has frames

        files = [fresh_as.db, *(fresh_as.db.with_name(fresh_as.db.name + end) for end in ("-wal", "-shm"))]

        assert {file.name: mode(file) for file in files} == {file.name: 0o600 for file in files}

    @pytest.mark.anyio
    async def test_files_made_0644_by_an_older_version_are_narrowed_at_start(self, tmp_path: Path):
        """Issue 11 item 6: an existing database, WAL and index are chmodded 0600 when opened."""
        path = tmp_path / "old.sqlite3"
        with closing(sqlite3.connect(path)) as old:
            old.execute("PRAGMA journal_mode = WAL")
            old.execute("CREATE TABLE t (x INTEGER)")
            old.execute("INSERT INTO t VALUES (1)")
            old.commit()
            files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
            for file in files:
                file.chmod(0o644)

            database = await Database.open(path)
            await database.close()

            assert {file.name: mode(file) for file in files if file.exists()} == {
                file.name: 0o600 for file in files if file.exists()
            }
            assert mode(path) == 0o600
