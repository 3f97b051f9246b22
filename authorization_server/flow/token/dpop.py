"""DPoP proofs at the token endpoint (RFC 9449 §5): checked before the grant, their ``jti`` spent with it.

``DpopProofs.check`` runs every check of RFC 9449 §4.3 that needs no storage (``shared/dpop.py``)
against the issuer's token endpoint URL, and the nonce (§8) when nonces are required or the proof
carries one. Failures are ``invalid_dpop_proof``, or ``use_dpop_nonce`` with a fresh nonce in
``DPoP-Nonce``; nothing is written. ``bind`` then records the proof's ``jti`` in the unit of work
of the grant (``tokens``' ``dpop_proofs`` table, shared by every instance), so a replayed proof
is refused, and a refused grant leaves its proof unspent. Every grant that issues an access token
goes through these two: authorization_code, refresh_token, client_credentials and the jwt-bearer
grant with an ID-JAG or a workload's JWT (§5 applies to every grant at the token endpoint).

The nonces are stateless (``shared.dpop.Nonces``): every instance derives the same secret from the
key that seals the signing keys, so each accepts the others' nonces.
"""

from datetime import timedelta

from mcp_authz.authorization_server import clock
from mcp_authz.authorization_server.db import Transaction
from mcp_authz.authorization_server.errors import InvalidDpopProof, UseDpopNonce
from mcp_authz.authorization_server.tokens.service import TokenService
from mcp_authz.shared.dpop import PROOF_WINDOW, InvalidProof, NonceNeeded, Nonces, Proof, check_proof


class DpopProofs:
    def __init__(self, nonces: Nonces, *, require_nonce: bool) -> None:
        self._nonces = nonces
        self.require_nonce = require_nonce

    def check(self, headers: list[str], token_endpoint: str) -> Proof | None:
        """The request's proof once checked (RFC 9449 §4.3), ``None`` without a ``DPoP`` header."""
        if not headers:
            return None
        if len(headers) > 1:
            raise InvalidDpopProof("send one DPoP header (RFC 9449 §4.3)")
        now = clock.timestamp()
        try:
            proof = check_proof(headers[0], method="POST", url=token_endpoint, now=now)
        except InvalidProof as exc:
            raise InvalidDpopProof(str(exc)) from None
        if self.require_nonce or proof.nonce is not None:
            try:
                self._nonces.check(proof.nonce, now)
            except NonceNeeded as exc:
                raise UseDpopNonce(str(exc), nonce=self._nonces.current(now)) from None
        return proof

    def nonce(self) -> str | None:
        """The nonce for a ``DPoP-Nonce`` header of a successful answer, when nonces are required."""
        return self._nonces.current(clock.timestamp()) if self.require_nonce else None

    @staticmethod
    async def bind(tx: Transaction, tokens: TokenService, proof: Proof | None, *, required: bool) -> str | None:
        """The key the grant's tokens are bound to (RFC 9449 §6.1): the proof's, once its ``jti`` is spent; ``None``
        without a proof, which a client registered with ``dpop_bound_access_tokens`` (``required``) must send (§5.2).
        """
        if proof is None:
            if required:
                raise InvalidDpopProof("this client registered dpop_bound_access_tokens: send a DPoP proof (§5.2)")
            return None
        await DpopProofs.spend(tx, tokens, proof)
        return proof.jkt

    @staticmethod
    async def spend(tx: Transaction, tokens: TokenService, proof: Proof) -> None:
        """Use up the proof's ``jti`` (RFC 9449 §11.1); ``invalid_dpop_proof`` if it was used before."""
        until = clock.now() + timedelta(seconds=PROOF_WINDOW + 1 + max(0.0, proof.iat - clock.timestamp()))
        if not await tokens.spend_dpop_proof(tx, proof.jkt, proof.jti, until):
            raise InvalidDpopProof("this DPoP proof was already used: send a new one per request (RFC 9449 §11.1)")
