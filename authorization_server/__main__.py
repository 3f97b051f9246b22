"""``python -m authorization_server``: see ``cli/__init__.py``."""

from authorization_server.cli import main

main()
