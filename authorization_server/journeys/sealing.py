"""Downstream tokens and verifiers at rest: sealed with AES-256-GCM, bound to their row and column.

A user's tokens at a downstream provider, and a downstream flow's PKCE verifier, are needed in
clear later, so they are sealed rather than digested, under the ``downstream_token_key``
setting; the associated data names the row and the column, so a sealed value copied into
another row or column does not open (``encryption.py``, docs/decisions/0021).
"""

from mcp_authz.authorization_server.encryption import Sealer, Undecryptable
from mcp_authz.authorization_server.errors import ServerError
from mcp_authz.authorization_server.journeys.entities import CompletedDownstreamFlow, DownstreamTokens


class DownstreamSeal:
    """Seals and opens the secret columns of ``downstream_authorization_flows``."""

    def __init__(self, sealer: Sealer | None) -> None:
        #: ``None`` without ``downstream_token_key``: nothing can be sealed nor opened.
        self._sealer = sealer

    @property
    def can_seal(self) -> bool:
        """Whether downstream tokens can be kept: ``downstream_token_key`` is set."""
        return self._sealer is not None

    def seal(self, value: str, flow_id: str, column: str) -> bytes:
        """Seal a value of one flow's column: its associated data binds it to that row and column."""
        return self._cipher().seal(value, _associated_data(flow_id, column))

    def open(self, sealed: bytes, flow_id: str, column: str) -> str:
        """Open a value sealed by :meth:`seal` for the same row and column; ``server_error`` if it does not open."""
        try:
            return self._cipher().open(sealed, _associated_data(flow_id, column))
        except Undecryptable:
            raise ServerError(
                "a downstream token cannot be decrypted", detail=f"flow {flow_id}: downstream_token_key changed?"
            ) from None

    def sealed_tokens(self, flow_id: str, tokens: DownstreamTokens) -> dict[str, object]:
        """The columns of ``flow_id`` that keep ``tokens``: the tokens sealed, their expiry and scope as they are."""
        refresh_token = tokens.refresh_token
        return {
            "access_token_sealed": self.seal(tokens.access_token, flow_id, "access_token"),
            "refresh_token_sealed": self.seal(refresh_token, flow_id, "refresh_token") if refresh_token else None,
            "token_expires_at": tokens.expires_at,
            "scope": tokens.scope,
        }

    def opened_tokens(self, completed: CompletedDownstreamFlow) -> DownstreamTokens:
        """The provider's tokens kept by a completed flow, opened (RFC 6749 §5.1)."""
        flow_id = completed.flow.id
        refresh_token = completed.refresh_token_sealed
        return DownstreamTokens(
            access_token=self.open(completed.access_token_sealed, flow_id, "access_token"),
            refresh_token=self.open(refresh_token, flow_id, "refresh_token") if refresh_token else None,
            expires_at=completed.token_expires_at,
            scope=completed.scope,
        )

    def _cipher(self) -> Sealer:
        if self._sealer is None:
            raise ServerError("downstream tokens cannot be kept", detail="downstream_token_key is not set")
        return self._sealer


def _associated_data(flow_id: str, column: str) -> str:
    return f"downstream_authorization_flows/{flow_id}/{column}"
