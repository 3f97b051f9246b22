"""Upstream OpenID Connect providers people sign in with, and the people they vouch for (issue 16).

Owns the ``identity_providers``, ``federated_identities`` and ``upstream_sign_ins`` tables.
"""
