"""The store (client/store.py): per issuer and per (resource, issuer), 0600, written atomically."""

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_authz.client.errors import StoreError
from mcp_authz.client.registration import Registration
from mcp_authz.client.store import Store
from mcp_authz.client.tokens import Tokens

ISSUER_A = "http://localhost:9000/mcp/a"
ISSUER_B = "http://localhost:9000/mcp/b"
RESOURCE = "http://localhost:8000/mcp"
REGISTRATION = Registration(issuer=ISSUER_A, client_id="client-a")
TOKENS = Tokens(
    resource=RESOURCE,
    issuer=ISSUER_A,
    client_id="client-a",
    access_token="at-1",
    refresh_token="rt-1",
    expires_at=2_000_000_000,
    scope="mcp:read",
)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(name="open_umask")
def _open_umask() -> Iterator[None]:
    """A umask that takes nothing away, so that only the code decides the modes."""
    previous = os.umask(0)
    yield
    os.umask(previous)


class TestRoundTrip:
    """CL-14, CL-27: registrations by issuer, tokens by resource and issuer."""

    def test_what_is_saved_is_loaded(self, tmp_path: Path) -> None:
        """A registration and tokens come back as they were saved, under their keys only."""
        store = Store.load(tmp_path / "store.json")
        store.save_registration(REGISTRATION)
        store.save_tokens(TOKENS)
        loaded = Store.load(tmp_path / "store.json")
        assert loaded.registration(ISSUER_A) == REGISTRATION
        assert loaded.tokens(RESOURCE, ISSUER_A) == TOKENS
        assert (loaded.registration(ISSUER_B), loaded.tokens(RESOURCE, ISSUER_B)) == (None, None)

    def test_the_file_is_plain_json(self, tmp_path: Path) -> None:
        """The file has the documented schema, version 1."""
        store = Store.load(tmp_path / "store.json")
        store.save_registration(REGISTRATION)
        store.save_tokens(TOKENS)
        assert json.loads((tmp_path / "store.json").read_text()) == {
            "version": 1,
            "registrations": {
                ISSUER_A: {"client_id": "client-a", "token_endpoint_auth_method": "none", "kind": "dynamic"}
            },
            "tokens": {
                RESOURCE: {
                    ISSUER_A: {
                        "client_id": "client-a",
                        "access_token": "at-1",
                        "refresh_token": "rt-1",
                        "expires_at": 2_000_000_000,
                        "scope": "mcp:read",
                    }
                }
            },
        }

    def test_forgetting_a_registration_forgets_its_tokens_only(self, tmp_path: Path) -> None:
        """Tokens issued to another issuer's registration stay."""
        store = Store.load(tmp_path / "store.json")
        store.save_registration(REGISTRATION)
        store.save_registration(Registration(issuer=ISSUER_B, client_id="client-b"))
        store.save_tokens(TOKENS)
        store.save_tokens(Tokens(resource=RESOURCE, issuer=ISSUER_B, client_id="client-b", access_token="at-b"))
        store.forget_registration(ISSUER_A)
        loaded = Store.load(tmp_path / "store.json")
        assert (loaded.registration(ISSUER_A), loaded.tokens(RESOURCE, ISSUER_A)) == (None, None)
        assert loaded.tokens(RESOURCE, ISSUER_B) is not None


class TestProgress:
    """``--step``: what a step leaves for the next, added to version 1 compatibly."""

    def test_progress_is_saved_per_server_url_and_step(self, tmp_path: Path) -> None:
        """A step's fields come back under its server URL and name; the version stays 1."""
        store = Store.load(tmp_path / "store.json")
        store.save_progress(RESOURCE, "discover", {"issuer": ISSUER_A})
        document = json.loads((tmp_path / "store.json").read_text())
        assert (document["version"], document["progress"]) == (1, {RESOURCE: {"discover": {"issuer": ISSUER_A}}})
        loaded = Store.load(tmp_path / "store.json")
        assert loaded.progress(RESOURCE, "discover") == {"issuer": ISSUER_A}
        assert loaded.progress(RESOURCE, "metadata") is None

    def test_a_store_from_before_progress_loads_without_any(self, tmp_path: Path) -> None:
        """A version 1 file without "progress" keeps its registration and has no step done."""
        path = tmp_path / "store.json"
        path.write_text(json.dumps({"version": 1, "registrations": {ISSUER_A: {"client_id": "client-a"}}}))
        loaded = Store.load(path)
        assert loaded.registration(ISSUER_A) == REGISTRATION
        assert loaded.progress(RESOURCE, "discover") is None

    def test_forgetting_a_step_keeps_the_others(self, tmp_path: Path) -> None:
        """The code of the authorize step is forgotten once used; discover stays."""
        store = Store.load(tmp_path / "store.json")
        store.save_progress(RESOURCE, "discover", {"issuer": ISSUER_A})
        store.save_progress(RESOURCE, "authorize", {"code": "c"})
        store.forget_progress(RESOURCE, "authorize")
        assert json.loads((tmp_path / "store.json").read_text())["progress"] == {
            RESOURCE: {"discover": {"issuer": ISSUER_A}}
        }


class TestPrivacy:
    """CL-28: only the owner can read the file, from its first byte."""

    def test_a_new_store_is_0600_in_a_0700_directory(self, tmp_path: Path, open_umask: None) -> None:
        """Even with a umask of 0, the file is 0600 and its new directory 0700."""
        path = tmp_path / "state" / "mcp-auth-client" / "store.json"
        Store.load(path).save_tokens(TOKENS)
        assert (mode(path), mode(path.parent)) == (0o600, 0o700)

    def test_a_readable_store_becomes_0600_when_written(self, tmp_path: Path, open_umask: None) -> None:
        """A store someone made world-readable is private again after a write."""
        path = tmp_path / "store.json"
        path.write_text('{"version": 1}')
        path.chmod(0o644)
        Store.load(path).save_tokens(TOKENS)
        assert mode(path) == 0o600


class TestAtomicity:
    """A failed write leaves the previous file whole and no temporary file behind."""

    def test_a_failed_write_keeps_the_old_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A disk that fills up mid-write leaves the previous store as it was."""
        path = tmp_path / "store.json"
        store = Store.load(path)
        store.save_registration(REGISTRATION)
        before = path.read_text()

        def full_disk(descriptor: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", full_disk)
        with pytest.raises(StoreError, match=f"^cannot write the store {path}: No space left on device$"):
            store.save_tokens(TOKENS)
        assert path.read_text() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["store.json"]


class TestUnusableStore:
    """A store that cannot be used is a clear error, not a traceback (exit 9)."""

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            ("{oops", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
            ('{"version": 2}', "it has version 2, not 1"),
            ('{"version": 1, "registrations": {"i": {}}}', '"client_id" is required'),
        ],
    )
    def test_it_names_the_file_and_the_problem(self, tmp_path: Path, content: str, reason: str) -> None:
        """Bad JSON, another version, a missing field: each is named."""
        path = tmp_path / "store.json"
        path.write_text(content)
        with pytest.raises(StoreError) as raised:
            Store.load(path)
        assert str(raised.value) == f"the store {path} is not usable ({reason}): move it away or pass another --store"

    def test_a_missing_file_is_an_empty_store(self, tmp_path: Path) -> None:
        """The first run starts from nothing."""
        assert Store.load(tmp_path / "absent.json").to_json() == {"version": 1, "registrations": {}, "tokens": {}}
