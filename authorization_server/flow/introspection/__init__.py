"""Token introspection (RFC 7662), for MCP servers."""
