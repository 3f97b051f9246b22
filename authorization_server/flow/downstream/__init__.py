"""Downstream authorization (issue 4): this server as an OAuth client of the providers an MCP
server's connections name, and RFC 8693 token exchange of the tokens it got there.

Orchestration only: the flows and their sealed tokens belong to ``journeys/``, the connections
to ``mcp_servers/``.
"""
