"""The client's memory between runs: one JSON file that only its owner can read (CL-28).

::

    {
      "version": 1,
      "registrations": {ISSUER: {"client_id": ..., "token_endpoint_auth_method": ..., "kind": ...,
                                 "private_key_file": ..., "private_key_alg": ..., "dpop_jwk": {...}}},
      "tokens": {RESOURCE: {ISSUER: {"client_id": ..., "access_token": ..., "refresh_token": ...,
                                     "expires_at": ..., "scope": ..., "token_type": ...}}},
      "progress": {SERVER_URL: {"discover": {...}, "metadata": {...}, "authorize": {...}}}
    }

Registrations are kept per issuer and never used with another (CL-14, MCP Authorization Server
Binding); tokens per resource and issuer, so a server only ever sees tokens issued for it
(CL-27). ``progress`` holds what one step of ``--step`` leaves for the next, per MCP server URL
(client/stepwise.py). Every change is written at once, so a rotated refresh token is never lost (CL-29).

The file is written whole into a temporary file beside it, created with mode 0600, flushed to
disk and renamed over the old one: a crash leaves the old file or the new one, never half of
either, and there is no moment when a token sits in a file others may read.

``progress``, a registration's ``kind`` (pre-registered, metadata-document, dynamic) and the
``private_key_file`` and ``private_key_alg`` of a ``private_key_jwt`` client (the key's path, never
the key), a registration's ``dpop_jwk`` (its DPoP key, RFC 9449: a private key, kept as safe as the
tokens) and the tokens' ``token_type`` were added compatibly, so the version stays 1: a store written before them has no
progress (``--step`` then asks for ``discover`` first) and only dynamic registrations, and a
client that predates them ignores them.
"""

import contextlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

from mcp_authz.client.errors import StoreError
from mcp_authz.client.registration import DYNAMIC, WORKLOAD_IDENTITY, Registration
from mcp_authz.client.tokens import Tokens
from mcp_authz.shared.json_fields import as_object, optional_int, optional_str, required_str, without_none

SCHEMA_VERSION = 1


class Store:
    def __init__(
        self,
        path: Path,
        registrations: dict[str, Registration] | None = None,
        tokens: dict[tuple[str, str], Tokens] | None = None,
        progress: dict[str, dict[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.path = path
        self._registrations = registrations or {}
        self._tokens = tokens or {}
        self._progress = progress or {}

    @classmethod
    def load(cls, path: Path) -> Self:
        """The store at ``path``; an empty one if there is no file yet."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise StoreError(f"cannot read the store {path}: {exc.strerror}") from None
        try:
            return cls._parse(path, json.loads(text))
        except ValueError as exc:
            raise unusable(path, exc) from None

    def registration(self, issuer: str) -> Registration | None:
        return self._registrations.get(issuer)

    def tokens(self, resource: str, issuer: str) -> Tokens | None:
        return self._tokens.get((resource, issuer))

    def registrations(self) -> list[Registration]:
        return list(self._registrations.values())

    def all_tokens(self) -> list[Tokens]:
        return list(self._tokens.values())

    def save_registration(self, registration: Registration) -> None:
        self._registrations[registration.issuer] = registration
        self._write()

    def forget_registration(self, issuer: str) -> None:
        """Drop the registration with ``issuer`` and every token issued to it."""
        self._registrations.pop(issuer, None)
        self._tokens = {key: tokens for key, tokens in self._tokens.items() if tokens.issuer != issuer}
        self._write()

    def save_tokens(self, tokens: Tokens) -> None:
        self._tokens[(tokens.resource, tokens.issuer)] = tokens
        self._write()

    def forget_tokens(self, resource: str, issuer: str) -> None:
        self._tokens.pop((resource, issuer), None)
        self._write()

    def progress(self, server_url: str, step: str) -> dict[str, Any] | None:
        """What ``step`` left for the next steps against ``server_url``, if it ran."""
        return self._progress.get(server_url, {}).get(step)

    def save_progress(self, server_url: str, step: str, fields: dict[str, Any]) -> None:
        self._progress.setdefault(server_url, {})[step] = fields
        self._write()

    def forget_progress(self, server_url: str, step: str) -> None:
        self._progress.get(server_url, {}).pop(step, None)
        self._write()

    def forget_server(self, server_url: str) -> None:
        """Drop everything ``--step`` kept for ``server_url``."""
        self._progress.pop(server_url, None)
        self._write()

    def to_json(self) -> dict[str, Any]:
        tokens: dict[str, dict[str, Any]] = {}
        for (resource, issuer), held in self._tokens.items():
            fields = without_none(asdict(held))
            del fields["resource"], fields["issuer"]
            tokens.setdefault(resource, {})[issuer] = fields
        registrations = {}
        for issuer, registration in self._registrations.items():
            fields = without_none(asdict(registration))
            del fields["issuer"]
            registrations[issuer] = fields
        document = {"version": SCHEMA_VERSION, "registrations": registrations, "tokens": tokens}
        return document | ({"progress": self._progress} if self._progress else {})

    @classmethod
    def _parse(cls, path: Path, data: object) -> Self:
        document = as_object(data, "the file")
        if document.get("version") != SCHEMA_VERSION:
            raise ValueError(f"it has version {document.get('version')!r}, not {SCHEMA_VERSION}")
        registrations = {}
        for issuer, fields in as_object(document.get("registrations", {}), '"registrations"').items():
            entry = as_object(fields, f"the registration for {issuer}")
            kind = optional_str(entry, "kind") or DYNAMIC
            registrations[issuer] = Registration(
                issuer=issuer,
                # a workload has no client_id (SEP-1933): every other kind has one
                client_id=optional_str(entry, "client_id") or ""
                if kind == WORKLOAD_IDENTITY
                else required_str(entry, "client_id"),
                token_endpoint_auth_method=optional_str(entry, "token_endpoint_auth_method") or "none",
                client_secret=optional_str(entry, "client_secret"),
                kind=kind,
                private_key_file=optional_str(entry, "private_key_file"),
                private_key_alg=optional_str(entry, "private_key_alg"),
                dpop_jwk=_optional_object(entry, "dpop_jwk"),
            )
        tokens = {}
        for resource, by_issuer in as_object(document.get("tokens", {}), '"tokens"').items():
            for issuer, fields in as_object(by_issuer, f"the tokens for {resource}").items():
                entry = as_object(fields, f"the tokens for {resource} from {issuer}")
                tokens[(resource, issuer)] = Tokens(
                    resource=resource,
                    issuer=issuer,
                    client_id=optional_str(entry, "client_id") or "",  # "" for a workload's (SEP-1933)
                    access_token=required_str(entry, "access_token"),
                    refresh_token=optional_str(entry, "refresh_token"),
                    expires_at=optional_int(entry, "expires_at"),
                    scope=optional_str(entry, "scope"),
                    token_type=optional_str(entry, "token_type"),
                )
        progress = {
            server_url: {
                step: as_object(fields, f"the progress of {step} for {server_url}")
                for step, fields in as_object(steps, f"the progress for {server_url}").items()
            }
            for server_url, steps in as_object(document.get("progress", {}), '"progress"').items()
        }
        return cls(path, registrations, tokens, progress)

    def _write(self) -> None:
        try:
            write_private(self.path, json.dumps(self.to_json(), indent=2) + "\n")
        except OSError as exc:
            raise StoreError(f"cannot write the store {self.path}: {exc.strerror or exc}") from None


def _optional_object(entry: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = entry.get(name)
    return None if value is None else as_object(value, f'"{name}"')


def unusable(path: Path, problem: ValueError) -> StoreError:
    """The error for a store whose content this client cannot use."""
    return StoreError(f"the store {path} is not usable ({problem}): move it away or pass another --store")


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically; the file is mode 0600 from its first byte."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:  # mkstemp creates it 0600
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX: it lives in the directory's entry list)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
