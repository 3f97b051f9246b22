"""Consent memory: what each user approved for each client at each MCP server.

Owns the ``consents`` table.
"""
