"""``python -m authorization_server``: see ``cli/__init__.py``."""

from mcp_authz.authorization_server.cli import main

main()
