"""The signed-in user's own pages: the connected apps (MCP security best practices, per-client consent)."""
