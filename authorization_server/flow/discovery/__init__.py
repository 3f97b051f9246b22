"""Discovery (RFC 8414 §3): the issuers, their metadata, and the JWK Set (RFC 7517)."""
