"""The operator's console's use cases (issue 17), one module per page, through the command line's services: each
action is the one its command runs, in one unit of work; a mistake is an ``OAuthError`` the page shows
(``InvalidRequest``, ``NotFound``), never a 500. ``shared.py`` turns a service's ``ValueError`` into either."""
