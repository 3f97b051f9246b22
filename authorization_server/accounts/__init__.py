"""Resource owners: user accounts and their browser sign-in sessions.

Owns the ``users`` and ``browser_sessions`` tables.
"""
