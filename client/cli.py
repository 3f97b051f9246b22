"""The command line: ``python client.py --server-url URL [options]``, ``servers`` and ``logout``.

It builds the options and the user agent, runs the flow, and turns every failure into one line
on stderr and the exit code of its class (client/errors.py). Never a traceback: a failure this
client did not foresee is reported in one line too, as a bug, with exit code 1.
"""

import argparse
import asyncio
import io
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mcp_authz.client import assertion, listing
from mcp_authz.client.assertion import SigningKey
from mcp_authz.client.callback import LoopbackCallback, UserAgentFactory, open_browser, print_url
from mcp_authz.client.errors import INTERRUPTED_EXIT_CODE, ClientError, StoreError, UsageError, describe
from mcp_authz.client.flow import Options, ToolCall
from mcp_authz.client.headless import HeadlessBrowser
from mcp_authz.client.json_output import JsonTutorial, error_line
from mcp_authz.client.quiet import QuietTutorial
from mcp_authz.client.stepwise import LOGOUT, STEPS, run
from mcp_authz.client.store import Store
from mcp_authz.client.tokens import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, ENTERPRISE, WORKLOAD, IdentityProvider
from mcp_authz.client.tutorial import Tutorial
from mcp_authz.client.urls import UrlPolicy
from mcp_authz.shared.loopback import is_https_or_loopback_http
from mcp_authz.shared.resource import canonical_resource

DEFAULT_CALLBACK_PORT = 8888
DEFAULT_CALLBACK_TIMEOUT = 300.0
DEFAULT_CLIENT_NAME = "MCP authorization tutorial client"

DESCRIPTION = """\
The reference MCP client of the authorization tutorial. It discovers the MCP server's
authorization server, registers, authorizes with PKCE through your browser, exchanges the
code, calls the tools and refreshes the tokens, printing each step as it happens: what it
sent, what came back (secrets masked), and the spec rule it followed.

--step runs one step alone and keeps what the next one needs in the store; run them in order:
discover, metadata, register, authorize, token, call, refresh, revoke. Without --step, steps 1
to 7 run in one go and the tokens are kept for the next run.

--call TOOL [--args JSON] calls that tool at step 6, after whoami; repeat it for several tools,
called in order. When the server answers 403 insufficient_scope, the client authorizes again for
the scope it asked before plus the scope the server names, and calls again: at most twice, then
it fails (exit code 8).

An MCP server that answers without a 401 asks for no authorization: the client says so, skips the
authorization steps and calls the tools without a token. One that publishes no protected resource
metadata (MCP 2025-03-26) is authorized at its own origin, at the default endpoints if need be.

--grant client_credentials makes it a machine client (OAuth 2.1 §4.2): no user, no browser;
with --client-id and either --client-secret or --private-key-file (private_key_jwt, RFC 7523)
it gets a token for itself, and a new one when that one expires.

--grant enterprise (SEP-990) exchanges the user's token at their enterprise IdP (--idp-token-endpoint,
--idp-client-id, --subject-token-file or --subject-token-env) for an ID-JAG (RFC 8693), and presents
it to the MCP server's authorization server with the jwt-bearer grant (RFC 7523) as --client-id.
--grant workload (SEP-1933, a draft) presents the workload's own JWT (--assertion-file or
--assertion-env) the same way, with no client_id unless --client-id names one. Neither opens a
browser or keeps a refresh token.

Two commands manage the store: `python client.py servers` lists what it holds (server, issuer,
client ID, token expiry, scope; never a secret); `python client.py logout --server-url URL`
revokes that server's tokens at its authorization server (RFC 7009), forgets them, and says what it
did.

A refresh token the authorization server refuses (invalid_grant: the user revoked the app) is
forgotten and the authorization runs again in the same run; --quiet prints one line per step."""

LOGOUT_DESCRIPTION = """\
Log out of an MCP server: discover its authorization server afresh (steps 1 and 2), revoke the
stored tokens there (step 8, RFC 7009) when it has a revocation endpoint, and forget them. The
registration stays in the store: it names this client at the issuer, not your grant. It prints
what it did, one line each; --verbose or --json shows its steps instead."""

EXIT_CODES = """exit codes:
  0  done
  1  a bug in this client
  2  the command line is wrong
  3  the MCP server is unreachable, is not an MCP server, or discovery failed
  4  the authorization server is unreachable, its metadata is missing or unusable, or it lacks the --grant
  5  the registration was refused
  6  the authorization failed (access_denied, state or iss mismatch, no callback, sign-in page in --headless)
  7  the token endpoint refused the code, the refresh token or the client's credentials, or the
     revocation endpoint the token
  8  a tool call failed (also: still insufficient_scope after two step-ups)
  9  the store cannot be read or written
  10  --step: an earlier step has not run yet (the message names it)
  130  interrupted
"""


#: Options whose value is a credential an authorization server chose, which may begin with "-".
CREDENTIAL_OPTIONS = ("--client-id", "--client-secret")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")  # a terminal without UTF-8 gets "?" for "…", not a crash
    # Library log records (the MCP SDK logs some failures with their tracebacks) would reach
    # stderr through logging's last-resort handler; what matters reaches the user as one line.
    logging.getLogger().addHandler(logging.NullHandler())
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments.pop(0) if arguments[:1] in (["servers"], ["logout"]) else None
    if command == "servers":
        return list_servers(servers_parser().parse_args(arguments), environ)
    args = parser(command).parse_args(attached(arguments))
    tutorial = output(args, logout=command == "logout")
    fail = _fail_json if args.json else _fail
    try:
        if command == "logout" and args.step is not None:
            raise UsageError("logout runs no --step")
        private_key = _private_key(args)
        for server_url in args.server_url:
            options = Options(
                server_url=_server_url(server_url),
                store=args.store or default_store(environ),
                client_name=args.client_name,
                callback_port=args.callback_port,
                calls=_calls(args.calls),
                client_id=args.client_id,
                client_secret=_client_secret(args),
                client_auth_method=args.client_auth_method,
                client_metadata_url=_client_metadata_url(args.client_metadata_url),
                private_key=private_key,
                grant=args.grant,
                dpop=not args.no_dpop,
                identity_provider=_identity_provider(args, environ),
                assertion=_secret_input(args.assertion_file, args.assertion_env, environ, "--assertion")
                if args.grant == WORKLOAD
                else None,
            )
            agent = user_agent(args, tutorial, UrlPolicy.for_server(options.server_url))
            asyncio.run(run(options, tutorial, agent, step=LOGOUT if command else args.step))
    except ClientError as exc:
        return fail(tutorial, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return fail(tutorial, "interrupted", INTERRUPTED_EXIT_CODE)
    except Exception as exc:
        message = f"unexpected {type(exc).__name__}: {describe(exc)} (a bug in this client)"
        return fail(tutorial, message, ClientError.exit_code)
    tutorial.finish()
    return 0


def output(args: argparse.Namespace, *, logout: bool) -> Tutorial:
    """``--json``, ``--verbose``, ``--quiet``, or the step-by-step tutorial; ``logout`` says only what it did
    unless ``--json`` or ``--verbose`` asks for its steps."""
    if args.json:
        return JsonTutorial(sys.stdout)
    if args.verbose:
        return Tutorial(sys.stdout, verbose=True)
    if args.quiet or logout:
        return QuietTutorial(sys.stdout, steps=not logout)
    return Tutorial(sys.stdout)


def list_servers(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """``python client.py servers``: the store's servers, issuers, client IDs, expiries and scopes."""
    try:
        store = Store.load(args.store or default_store(environ))
    except StoreError as exc:
        return _fail(Tutorial(sys.stdout), str(exc), exc.exit_code)
    for line in listing.servers(store, time.time()):
        print(line)
    return 0


def servers_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python client.py servers",
        description="List what the store holds, one line per MCP server: its issuer, the client ID, when the "
        "access token expires and the scope granted. No token or secret is shown.",
    )
    _add_store(parser)
    return parser


def attached(arguments: list[str]) -> list[str]:
    """``--client-id VALUE`` as ``--client-id=VALUE``, so that a credential beginning with "-" is a value.

    Authorization servers issue random base64url client IDs and secrets (RFC 4648 §5), and one in
    64 begins with "-", which argparse would take for an option.
    """
    joined: list[str] = []
    for argument in arguments:
        if joined[-1:] and joined[-1] in CREDENTIAL_OPTIONS:
            joined[-1] = f"{joined[-1]}={argument}"
        else:
            joined.append(argument)
    return joined


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The options of a run; with ``command`` "logout", of ``python client.py logout``."""
    parser = argparse.ArgumentParser(
        prog=f"python client.py {command}" if command else "python client.py",
        description=LOGOUT_DESCRIPTION if command else DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--server-url",
        required=True,
        action="append",
        metavar="URL",
        help="the MCP server's endpoint, e.g. http://localhost:8000/mcp; repeat it for several servers, "
        "run one after the other with one store",
    )
    agent = parser.add_mutually_exclusive_group()
    agent.add_argument(
        "--headless",
        action="store_true",
        help="open no browser: follow the authorization server's redirects yourself; works against "
        "`python -m authorization_server --demo`, and stops at a sign-in page",
    )
    agent.add_argument(
        "--no-browser",
        action="store_true",
        help="print the authorization URL instead of opening a browser, then wait for the redirect back",
    )
    _add_store(parser)
    parser.add_argument(
        "--callback-port",
        type=_port,
        default=DEFAULT_CALLBACK_PORT,
        metavar="N",
        help="preferred port of the redirect URI http://127.0.0.1:N/callback; a free port is used when it is "
        "taken (default: %(default)s)",
    )
    parser.add_argument(
        "--client-name",
        default=DEFAULT_CLIENT_NAME,
        metavar="NAME",
        help="the client_name to register, shown on the consent page (default: %(default)s)",
    )
    identity = parser.add_mutually_exclusive_group()
    identity.add_argument(
        "--client-id",
        metavar="ID",
        help="a client_id the authorization server's operator gave you (pre-registration): no registration "
        "request is made",
    )
    identity.add_argument(
        "--client-metadata-url",
        metavar="URL",
        help="the https URL of this client's metadata document, used as client_id when the authorization "
        "server advertises client_id_metadata_document_supported; otherwise it registers dynamically",
    )
    credential = parser.add_mutually_exclusive_group()
    credential.add_argument(
        "--client-secret",
        metavar="SECRET",
        help="the secret of --client-id, if it has one (visible to other local users in the process list: "
        "prefer a confidential client only on a machine of your own)",
    )
    credential.add_argument(
        "--private-key-file",
        type=Path,
        metavar="PATH",
        help="an unencrypted PEM private key: authenticate as --client-id (or --client-metadata-url) with "
        "private_key_jwt, a fresh assertion signed with it for each token request (RFC 7523 §2.2)",
    )
    parser.add_argument(
        "--client-auth-method",
        choices=("client_secret_basic", "client_secret_post"),
        help="how --client-secret is sent to the token endpoint (default: client_secret_basic, or "
        "client_secret_post when that is the only one the server's token_endpoint_auth_methods_supported lists)",
    )
    parser.add_argument(
        "--private-key-alg",
        metavar="ALG",
        help="the JWS algorithm of --private-key-file's assertions (default: ES256 for an EC P-256 key, "
        "ES384 and ES512 for P-384 and P-521, RS256 for RSA, EdDSA for Ed25519)",
    )
    parser.add_argument(
        "--grant",
        choices=(AUTHORIZATION_CODE, CLIENT_CREDENTIALS, ENTERPRISE, WORKLOAD),
        default=AUTHORIZATION_CODE,
        help="authorization_code: a user approves in the browser; client_credentials: a machine client, no "
        "user, with --client-id and --client-secret or --private-key-file; enterprise: an ID-JAG from the "
        "user's IdP (--idp-*, --subject-token-*), then the jwt-bearer grant (SEP-990); workload: the "
        "workload's JWT (--assertion-file or --assertion-env) at the jwt-bearer grant (SEP-1933, draft) "
        "(default: %(default)s)",
    )
    enterprise = parser.add_argument_group("--grant enterprise (SEP-990) and --grant workload (SEP-1933, draft)")
    enterprise.add_argument(
        "--idp-token-endpoint", metavar="URL", help="the token endpoint of the user's enterprise IdP"
    )
    enterprise.add_argument("--idp-client-id", metavar="ID", help="this client's id at the IdP")
    enterprise.add_argument(
        "--idp-client-secret-env", metavar="NAME", help="the environment variable holding its secret there, if any"
    )
    subject = enterprise.add_mutually_exclusive_group()
    subject.add_argument("--subject-token-file", type=Path, metavar="PATH", help="a file with the user's IdP token")
    subject.add_argument(
        "--subject-token-env", metavar="NAME", help="the environment variable with the user's IdP token"
    )
    enterprise.add_argument(
        "--subject-token-type",
        choices=("id_token", "access_token"),
        default="id_token",
        help="what the user's IdP token is (default: %(default)s)",
    )
    workload = enterprise.add_mutually_exclusive_group()
    workload.add_argument("--assertion-file", type=Path, metavar="PATH", help="a file with the workload's JWT")
    workload.add_argument("--assertion-env", metavar="NAME", help="the environment variable with the workload's JWT")
    parser.add_argument(
        "--no-dpop",
        action="store_true",
        help="send bearer tokens even when the authorization server advertises DPoP (RFC 9449); by default the"
        " client binds its tokens to a key of its registration, kept in the store, and proves it on each request",
    )
    parser.add_argument(
        "--step",
        choices=STEPS,
        metavar="STEP",
        help=f"run one step of the tutorial and stop, keeping what the next step needs in the store: "
        f"{', '.join(STEPS)} (default: steps 1 to 7 in one go)",
    )
    parser.add_argument(
        "--call",
        action=_CallAction,
        dest="calls",
        default=[],
        metavar="TOOL",
        help="call this tool at step 6, after whoami, stepping up on 403 insufficient_scope (e.g. add_note); "
        "repeat it to call several tools in order, each with the --args that follows it",
    )
    parser.add_argument(
        "--args",
        action=_CallAction,
        dest="calls",
        metavar="JSON",
        help='the arguments of the --call before it, a JSON object, e.g. \'{"text": "hi"}\' (default: {})',
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        action="store_true",
        help="print each step as one JSON object on stdout (secrets masked), a failure as one on stderr",
    )
    output.add_argument(
        "--quiet",
        action="store_true",
        help="one line per step with what it found, and the outcome; no requests, responses or rules "
        "(logout prints only what it did anyway)",
    )
    output.add_argument(
        "--verbose",
        action="store_true",
        help="show every HTTP exchange in full: all headers, the MCP JSON-RPC requests, timings",
    )
    parser.add_argument(
        "--callback-timeout",
        type=_positive_seconds,
        default=DEFAULT_CALLBACK_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for the browser to come back with the authorization response (default: %(default)g)",
    )
    return parser


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        metavar="PATH",
        help="JSON file of registrations and tokens, mode 0600 "
        "(default: $XDG_STATE_HOME/mcp-auth-client/store.json, i.e. ~/.local/state/mcp-auth-client/store.json)",
    )


def user_agent(args: argparse.Namespace, tutorial: Tutorial, policy: UrlPolicy) -> UserAgentFactory:
    """How the user reaches the authorization server: ``--headless``, ``--no-browser``, or the browser."""
    if args.headless:
        return lambda: HeadlessBrowser(port=args.callback_port, tutorial=tutorial, policy=policy)
    show = print_url(tutorial, args.callback_timeout) if args.no_browser else open_browser(tutorial)
    return lambda: LoopbackCallback(preferred_port=args.callback_port, timeout=args.callback_timeout, show=show)


def default_store(environ: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/mcp-auth-client/store.json``; ``~/.local/state`` when unset or relative (XDG)."""
    state = environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "mcp-auth-client" / "store.json"


def _server_url(url: str) -> str:
    """An absolute http(s) URL without fragment; plain http only on loopback (MCP: localhost or https)."""
    try:
        canonical_resource(url)
    except ValueError as exc:
        raise UsageError(f"--server-url: {exc}") from None
    if not is_https_or_loopback_http(url):
        raise UsageError("--server-url: plain http is only allowed on loopback (localhost, 127.0.0.1, [::1])")
    return url


class _CallAction(argparse.Action):
    """``--call TOOL`` and ``--args JSON`` into one list, in order: ``[TOOL, JSON or None]`` per call."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        calls: list[list[str | None]] = [list(call) for call in getattr(namespace, self.dest)]
        if option == "--call":
            calls.append([values, None])
        elif calls and calls[-1][1] is None:
            calls[-1][1] = values
        else:
            calls.append([None, values])  # refused by _calls, in one line
        setattr(namespace, self.dest, calls)


def _calls(calls: list[list[str | None]]) -> tuple[ToolCall, ...]:
    """The tools to call, each with its ``--args`` parsed: a JSON object; ``--args`` only after a ``--call``."""
    if any(tool is None for tool, _ in calls):
        raise UsageError("--args needs --call TOOL")
    return tuple(ToolCall(str(tool), _arguments(text)) for tool, text in calls)


def _arguments(text: str | None) -> dict[str, Any]:
    """``--args``: a JSON object."""
    if text is None:
        return {}
    try:
        arguments = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--args: not JSON: {exc}") from None
    if not isinstance(arguments, dict):
        raise UsageError('--args: the arguments of a tool are a JSON object, e.g. \'{"text": "hi"}\'')
    return arguments


def _client_secret(args: argparse.Namespace) -> str | None:
    """``--client-secret`` and ``--client-auth-method`` only with ``--client-id``, the method only with a secret."""
    if args.client_secret is not None and args.client_id is None:
        raise UsageError("--client-secret needs --client-id")
    if args.client_auth_method is not None and args.client_secret is None:
        raise UsageError("--client-auth-method needs --client-secret")
    secret: str | None = args.client_secret
    return secret


def _secret_input(path: Path | None, env: str | None, environ: Mapping[str, str], option: str) -> str | None:
    """A token read from ``{option}-file`` or ``{option}-env``, stripped; never printed."""
    if path is not None:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"{option}-file {path}: {describe(exc)}") from None
    elif env is not None:
        value = environ.get(env, "").strip()
    else:
        return None
    if not value:
        raise UsageError(f"{option}-file or {option}-env is empty")
    return value


def _identity_provider(args: argparse.Namespace, environ: Mapping[str, str]) -> IdentityProvider | None:
    """What ``--grant enterprise`` needs from the command line (SEP-990)."""
    if args.grant != ENTERPRISE:
        return None
    subject_token = _secret_input(args.subject_token_file, args.subject_token_env, environ, "--subject-token")
    if args.idp_token_endpoint is None or args.idp_client_id is None or subject_token is None:
        raise UsageError(
            "--grant enterprise needs --idp-token-endpoint, --idp-client-id and --subject-token-file or "
            "--subject-token-env (and --client-id with --client-secret at the MCP server's authorization server)"
        )
    secret = environ.get(args.idp_client_secret_env) if args.idp_client_secret_env else None
    return IdentityProvider(
        token_endpoint=args.idp_token_endpoint,
        client_id=args.idp_client_id,
        client_secret=secret,
        subject_token=subject_token,
        subject_token_type=f"urn:ietf:params:oauth:token-type:{args.subject_token_type}",
    )


def _private_key(args: argparse.Namespace) -> SigningKey | None:
    """``--private-key-file`` (and ``--private-key-alg``), loaded; and what ``--grant client_credentials`` needs."""
    if args.grant == CLIENT_CREDENTIALS and (
        args.client_id is None or (args.client_secret is None and args.private_key_file is None)
    ):
        raise UsageError("--grant client_credentials needs --client-id with --client-secret or --private-key-file")
    if args.grant == WORKLOAD and (args.assertion_file or args.assertion_env) is None:
        raise UsageError("--grant workload needs --assertion-file or --assertion-env")
    if args.grant == ENTERPRISE and args.client_id is None:
        raise UsageError("--grant enterprise needs --client-id (and its --client-secret) at the MCP server's server")
    if args.private_key_alg is not None and args.private_key_file is None:
        raise UsageError("--private-key-alg needs --private-key-file")
    if args.private_key_file is None:
        return None
    if args.client_id is None and args.client_metadata_url is None:
        raise UsageError("--private-key-file needs --client-id or --client-metadata-url")
    return assertion.load(args.private_key_file, args.private_key_alg)


def _client_metadata_url(url: str | None) -> str | None:
    """An https URL with a path (CL-11, CIMD §3); plain http only on loopback, for tests."""
    if url is None:
        return None
    parts = urlsplit(url)
    if not is_https_or_loopback_http(url) or not parts.hostname or parts.path in ("", "/") or parts.fragment:
        raise UsageError(
            "--client-metadata-url: an https URL with a path and no fragment, e.g. https://example.com/client.json"
        )
    return url


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 1 and 65535")
    return port


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("it must be more than 0")
    return seconds


def _fail(tutorial: Tutorial, message: str, exit_code: int) -> int:
    tutorial.finish()  # --quiet: the line of the step that failed
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr, flush=True)
    return exit_code


def _fail_json(tutorial: Tutorial, message: str, exit_code: int) -> int:
    tutorial.finish()  # the step that failed, with what it sent and received
    print(error_line(message, exit_code), file=sys.stderr, flush=True)
    return exit_code
