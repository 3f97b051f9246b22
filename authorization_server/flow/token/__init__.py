"""The token endpoint (OAuth 2.1 §3.2) and its grants, token exchange (RFC 8693) among them."""
