"""OAuth clients, registered dynamically (RFC 7591). Owns the ``clients`` table."""
