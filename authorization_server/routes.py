"""Every path this server serves, relative to the root issuer, in flow order where it matters.

The routes in ``app.py`` and the metadata documents (``flow/discovery/issuers.py``) are built from
these constants, so they cannot disagree (RFC 8414 §3, RFC 7591 §3, RFC 7592 §1.2).
"""

# Paths, relative to the root issuer; the metadata below is derived from them.
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"
REVOKE_PATH = "/revoke"
INTROSPECT_PATH = "/introspect"
REGISTER_PATH = "/register"
#: RFC 7592 §1.2: each client's configuration endpoint, at the root whatever issuer it registered with.
CLIENT_CONFIGURATION_PATH = "/register/{client_id}"
GENERIC_REGISTER_PATH = "/api/v1/authz/clients/register"
MCP_REGISTER_PATH = "/api/v1/authz/clients/register/mcp/{mcp_server_id}/{version}"
JWKS_PATH = "/jwks.json"
MCP_ISSUER_PATH = "/mcp/{mcp_server_id}"


METADATA_PATH = "/.well-known/oauth-authorization-server"


CALLBACK_PATH = "/downstream/callback"

# The interaction's pages (OAuth 2.1 §3.1, §4.1.2): signing in, then consent.
LOGIN_PATH = "/interaction/{interaction_id}/login"
CONSENT_PATH = "/interaction/{interaction_id}/consent"
#: The pages of an interaction by the name ``web/redirects.ToInteraction`` gives them.
INTERACTION_PAGES = {"login": LOGIN_PATH, "consent": CONSENT_PATH}

# Sign-in through an identity provider (issue 16): the button posts here, the provider answers at its own path.
FEDERATED_START_PATH = "/interaction/{interaction_id}/federated/{provider}"
#: This server's redirect URI at one identity provider: a path per provider (mix-up defence, RFC 9700 §4.4.2).
FEDERATED_CALLBACK_PATH = "/federated/{provider}/callback"

# The person's pages (issue 17): the home page, the connected apps, signing out.
HOME_PATH = "/"
ACCOUNT_APPS_PATH = "/account/apps"
#: Where Revoke asks "are you sure?" before it posts to ACCOUNT_APPS_PATH (issue 17).
ACCOUNT_APPS_REVOKE_PATH = "/account/apps/revoke"
SIGN_OUT_PATH = "/account/sign-out"

# The operator's probes (issue 17): the process answers; the database and the signing keys work.
HEALTH_ALIVE_PATH = "/health/alive"
HEALTH_READY_PATH = "/health/ready"

# The operator's console (issue 17, docs/decisions/0014, 0041): its own sign-in; HTTP Basic stays for scripts.
ADMIN_PATH = "/admin"
ADMIN_SIGN_IN_PATH = "/admin/sign-in"
ADMIN_SIGN_OUT_PATH = "/admin/sign-out"
ADMIN_JOURNEYS_PATH = "/admin/journeys"
ADMIN_JOURNEY_PATH = "/admin/journeys/{journey_id}"
ADMIN_CLIENTS_PATH = "/admin/clients"
#: One client; its ``client_id`` (a URL, for a metadata document) goes in the query: ``?client_id=``.
ADMIN_CLIENT_PATH = "/admin/clients/view"
ADMIN_MCP_SERVERS_PATH = "/admin/mcp-servers"
#: One MCP server: ``?id=``.
ADMIN_MCP_SERVER_PATH = "/admin/mcp-servers/view"
ADMIN_USERS_PATH = "/admin/users"
#: One user: ``?username=``.
ADMIN_USER_PATH = "/admin/users/view"
ADMIN_KEYS_PATH = "/admin/keys"
ADMIN_IDENTITY_PROVIDERS_PATH = "/admin/identity-providers"
ADMIN_WORKLOAD_ISSUERS_PATH = "/admin/workload-issuers"

#: The stylesheets (``static/``) the pages link to.
STATIC_PATH = "/static"
