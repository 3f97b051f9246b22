"""Wire vocabulary shared by the authorization server, the MCP server and the client.

Only pure functions and data types that at least two of the three programs use: metadata
documents (RFC 8414, RFC 9728), well-known URLs, PKCE S256 (RFC 7636), scope strings
(RFC 6749 §3.3), Bearer challenges (RFC 6750 §3) and loopback addresses (RFC 8252 §7.3).
No I/O, no settings, no keys, nothing that imports the three programs. One exception, plumbing
rather than vocabulary, kept here so that both servers run the same code: ``http_deadlines.py``,
uvicorn's HTTP/1.1 protocol with a deadline for request headers (docs/decisions/0029).
"""
