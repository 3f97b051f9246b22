"""MCP servers: the protected resources this server issues tokens for (RFC 8707, RFC 9728).

Owns the ``mcp_servers`` and ``mcp_connections`` tables.
"""
