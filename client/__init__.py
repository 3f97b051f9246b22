"""The reference MCP client of the authorization tutorial (``python client.py --server-url URL``).

It knows the MCP server and the authorization server only over HTTP, and shows every step it
takes. Read ``flow.py`` first: the steps in order, then one module per step::

    discovery.py      steps 1-2  401 → protected resource metadata → authorization server metadata
    registration.py   step 3     dynamic client registration (RFC 7591)
    authorization.py  step 4     PKCE, state, the authorization URL, the checks on the response
    callback.py       step 4     the loopback listener and the browser
    headless.py       step 4     --headless: the authorization server's redirects, followed
    tokens.py         steps 5,7  code exchange and refresh
    mcp_calls.py      steps 6,7  tools through the MCP SDK with the bearer token
    store.py                     registrations and tokens between runs (0600, atomic)
    tutorial.py                  the tutorial output, secrets masked
    urls.py, wire.py             which URLs are followed; the HTTP clients and OAuth errors
    cli.py, errors.py            the command line, and one exit code per failure class
"""
