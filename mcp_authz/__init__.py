"""The project's one import package: ``mcp_authz.authorization_server``, ``mcp_authz.mcp_server``,
``mcp_authz.client`` and ``mcp_authz.shared`` (issue 17, docs/decisions/0036-packaging.md).

In a checkout the four programs keep their folders at the repository's root; ``mcp_authz/`` holds
this file and one symbolic link per folder (``mcp_authz/client -> ../client``), so that Python, mypy
and setuptools all find ``mcp_authz.client`` as the ``client/`` folder. In site-packages, after
``pip install``, this is the only top-level name: nothing generic (``client``, ``shared``) is left
to collide with another distribution's package.
"""
