"""A standalone OAuth 2.1 authorization server for MCP servers.

Read it in flow order: ``flow/discovery/endpoint.py`` (RFC 8414), ``flow/registration/endpoint.py``
(RFC 7591), ``flow/authorization/endpoint.py`` (RFC 6749 §4.1.1), ``flow/authorization/login.py`` and
``flow/authorization/consent.py``, then ``flow/token/endpoint.py`` (RFC 6749 §4.1.3, §6). The domain modules
(``accounts``, ``clients``, ``consents``, ``identity_providers``, ``journeys``, ``mcp_servers``, ``tokens``,
``workload_issuers``) each own their tables and are used by others only through their services; the
layers are drawn in docs/architecture.md. This package does not import ``mcp``.
"""
