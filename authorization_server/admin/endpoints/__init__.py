"""The operator's console at ``/admin`` (issues 4 and 17): its sign-in, clients, MCP servers, users, keys, journeys.

Every page needs the console's session or, for scripts, the admin's HTTP Basic credentials
(RFC 7617); a browser bringing neither is sent to the sign-in page. Every POST needs the session
and the CSRF token keyed by it: Basic credentials, which a browser sends on its own, never change
anything. Never CORS, never framed (``web/pages.py``); a POST answers with a 303 (OAuth 2.1 §1.6).

One module per page, named as its ``console/`` twin; ``shared.py`` holds their plumbing.
"""
