"""``python -m client``: the same as ``python client.py``."""

import sys

from client.cli import main

sys.exit(main())
