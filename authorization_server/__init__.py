"""A standalone OAuth 2.1 authorization server for MCP servers.

Read it in flow order: ``endpoints/discovery.py`` (RFC 8414), ``endpoints/register.py``
(RFC 7591), ``endpoints/authorize.py`` (RFC 6749 §4.1.1), ``endpoints/login.py`` and
``endpoints/consent.py``, then ``endpoints/token.py`` (RFC 6749 §4.1.3, §6). The domain modules
(``accounts``, ``clients``, ``mcp_servers``, ``journeys``, ``tokens``) each own their tables and
are used by others only through their services. This package does not import ``mcp``.
"""
