"""``python client.py --server-url URL``: the reference MCP client (the package ``client/``).

Run ``python client.py --help`` for the options and exit codes.
"""

import sys

from mcp_authz.client.cli import main

if __name__ == "__main__":
    sys.exit(main())
