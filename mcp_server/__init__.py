"""The reference MCP resource server: MCP tools over streamable HTTP, behind OAuth bearer tokens.

It knows its authorization server only over HTTP, from the issuer it is configured with: it
publishes protected resource metadata naming that issuer (RFC 9728), challenges requests
without a valid token, and verifies the JWT access tokens it receives (RFC 9068) with the
issuer's published keys. Read ``app.py``, then ``bearer_auth.py`` and ``token_verifier.py``.
"""
