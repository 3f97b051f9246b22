"""``python -m authorization_server``: see ``cli.py``."""

from authorization_server.cli import main

main()
