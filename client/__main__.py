"""``python -m client``: the same as ``python client.py``."""

import sys

from mcp_authz.client.cli import main

sys.exit(main())
