"""Dynamic client registration (RFC 7591), client management (RFC 7592), and expiry of idle
registrations (RFC 7591 §5)."""
