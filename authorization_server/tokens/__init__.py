"""Tokens: the keys that sign access tokens, the JWT access tokens (RFC 9068), and refresh tokens.

Owns the ``signing_keys`` and ``refresh_tokens`` tables.
"""
