"""DPoP at the MCP endpoint (RFC 9449 §7): the proof that comes with ``Authorization: DPoP <token>``.

``DpopCheck.check`` runs the checks of §4.3 (``shared/dpop.py``) with ``htm`` the request's method,
``htu`` this server's resource URL, and ``ath`` the token's hash (§7.1); the proof's key must be
the one the token is bound to (``cnf.jkt``, §6.1); its ``jti`` is single use, remembered in this
process for as long as a proof is acceptable (§11.1: a resource server keeps them per instance);
with ``--dpop-nonce`` it must carry the current nonce (§9). The nonces are an HMAC of the time
window under a secret of this process, so they need no storage.

Each failure is a ``Refused`` naming its error code: ``invalid_dpop_proof``, ``invalid_token``
(a token that is not DPoP-bound sent as DPoP), or ``use_dpop_nonce`` with the nonce to send.
"""

import secrets
import time
from collections import OrderedDict

from mcp_authz.shared.dpop import PROOF_WINDOW, InvalidProof, NonceNeeded, Nonces, check_proof

#: How many proofs' ``jti`` are remembered at most; beyond it the oldest are forgotten.
SEEN_LIMIT = 100_000


class Refused(Exception):
    """The request's DPoP proof is not acceptable: ``error`` is the code of the challenge, the message why."""

    def __init__(self, error: str, description: str, *, nonce: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.nonce = nonce


class DpopCheck:
    def __init__(self, resource: str, *, require_nonce: bool) -> None:
        self._resource = resource
        self.require_nonce = require_nonce
        self._nonces = Nonces(secrets.token_bytes(32))
        #: ``jkt.jti`` of the proofs seen, and until when (monotonic), oldest first.
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check(self, proofs: list[bytes], method: str, access_token: str, bound_to: str | None) -> None:
        """``Refused`` unless ``proofs`` is one fresh proof of the token's key for this request (RFC 9449 §7.1)."""
        if len(proofs) != 1:
            raise Refused("invalid_dpop_proof", "send one DPoP header with the DPoP token (RFC 9449 §4.3)")
        now = time.time()
        try:
            proof = check_proof(
                proofs[0].decode("latin-1"), method=method, url=self._resource, now=now, access_token=access_token
            )
        except InvalidProof as exc:
            raise Refused("invalid_dpop_proof", str(exc)) from None
        if bound_to is None:
            raise Refused("invalid_token", "the access token is not bound to a DPoP key: send it as a Bearer token")
        if proof.jkt != bound_to:
            raise Refused("invalid_dpop_proof", "the DPoP proof is not signed by the key the token is bound to")
        if self.require_nonce or proof.nonce is not None:
            try:
                self._nonces.check(proof.nonce, now)
            except NonceNeeded as exc:
                raise Refused("use_dpop_nonce", str(exc), nonce=self.nonce()) from None
        self._spend(f"{proof.jkt}.{proof.jti}")

    def nonce(self) -> str:
        return self._nonces.current(time.time())

    def _spend(self, key: str) -> None:
        moment = time.monotonic()
        while self._seen and (next(iter(self._seen.values())) < moment or len(self._seen) >= SEEN_LIMIT):
            self._seen.popitem(last=False)
        if key in self._seen:
            raise Refused("invalid_dpop_proof", "this DPoP proof was already used: send a new one per request")
        self._seen[key] = moment + 2 * PROOF_WINDOW + 1
