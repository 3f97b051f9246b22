"""Authorization Journeys and their MCP / Downstream Authorization Flows (seed 000).

A journey is one end-to-end authorization: from registration or the authorization request,
through sign-in and consent, to the code and the tokens it yields, with every step stamped.
Owns ``authorization_journeys``, ``journey_events``, ``mcp_authorization_flows`` and
``downstream_authorization_flows``.

Other modules call :class:`~authorization_server.journeys.service.JourneyService` only; it holds
the lifecycle and delegates the grant (``grants.py``), the downstream flows (``downstream.py``,
``sealing.py``), reading back (``history.py``) and upkeep (``upkeep.py``): docs/decisions/0030.
"""
