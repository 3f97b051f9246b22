"""The authorization request (OAuth 2.1 §4.1.1), sign-in (§3.1) and consent (§4.1.2), and who a
``client_id`` is (registered, or a client ID metadata document)."""
