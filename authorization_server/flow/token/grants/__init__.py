"""The grants of the token endpoint (OAuth 2.1 §3.2), one module each.

Every grant module has the same contract: ``async def exchange(context, tx, issuer, client,
params, jkt)`` returns the token response, or an error *value* when the failure has effects that must
be kept (a replayed code revokes its tokens; the transaction commits, then the error is sent).
Errors that change nothing are raised, and the transaction rolls back. ``jkt`` is the thumbprint of
the key of the request's DPoP proof (RFC 9449 §6.1), or ``None``: the tokens are bound to it.
"""
