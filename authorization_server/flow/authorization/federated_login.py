"""Sign-in through an identity provider (issue 16): ``POST /interaction/{interaction_id}/federated/{provider}``
starts it, ``GET /federated/{provider}/callback`` takes the provider's answer.

The start is a form post with the interaction's CSRF token (like the password form), so no other
site can send a person to a provider in this server's name. The callback comes by navigation from
the provider; an answer that cannot be matched or fails a check is shown as a page with the way
back to the sign-in page, never redirected to the client (``flow/authorization/federation.py``).
Both count against the per-address sign-in rate limit (``--rate-limit-login-ip``: 429 with
``Retry-After``). Nothing here logs a code or token: the log line says why a sign-in stopped.
"""

import logging

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.authorization_server.errors import OAuthError
from mcp_authz.authorization_server.flow.authorization.federation import SignInProblem, SignInStopped
from mcp_authz.authorization_server.routes import LOGIN_PATH
from mcp_authz.authorization_server.services import services
from mcp_authz.authorization_server.web.browser import check_csrf
from mcp_authz.authorization_server.web.pages import error_page, page
from mcp_authz.authorization_server.web.params import query_params, read_form
from mcp_authz.authorization_server.web.redirects import next_step

log = logging.getLogger("authorization_server")


async def start(request: Request) -> Response:
    found = services(request)
    interaction_id = request.path_params["interaction_id"]
    browser_secret = found.cookies.browser_secret(request)
    try:
        form = await read_form(request, found.settings.max_body_bytes)
        check_csrf(browser_secret, interaction_id, form.get("csrf_token"))
        found.limits.federated_sign_in(request)
        outcome = await found.federation.start(interaction_id, browser_secret, request.path_params["provider"])
    except SignInStopped as stopped:
        return _problem_page(stopped.problem)
    except OAuthError as error:
        return error_page(error)
    return next_step(outcome)


async def callback(request: Request) -> Response:
    found = services(request)
    try:
        found.limits.federated_sign_in(request)
        session, outcome = await found.federation.callback(
            request.path_params["provider"], query_params(request), found.cookies.browser_secret(request)
        )
    except SignInStopped as stopped:
        return _problem_page(stopped.problem)
    except OAuthError as error:
        return error_page(error)
    response = next_step(outcome)
    found.cookies.set_session(response, session)
    return response


def _problem_page(problem: SignInProblem) -> Response:
    error = problem.error
    log.info("upstream sign-in stopped: %s%s", error.error, f" ({error.detail})" if error.detail else "")
    retry = LOGIN_PATH.format(interaction_id=problem.interaction_id) if problem.interaction_id else None
    status = error.status_code if error.status_code != 401 else 400
    return page("sign_in_problem.html", status, error.headers(), error=error, retry_url=retry)
