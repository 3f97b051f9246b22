"""The baseline a user would otherwise pick: the mcp SDK's own auth routes over an in-memory provider.

``create_auth_routes`` (``mcp.server.auth.routes``) gives metadata, registration, authorize,
token and revocation endpoints; the SDK leaves storage and the user's approval to a provider.
``scripts/sdk_provider.py`` (the one the tests' SDK stack uses too) keeps everything in dicts,
approves every authorization at once, like our demo mode, and issues opaque random tokens (no
signing, no database): the cheapest honest provider, so the comparison flatters the baseline
(docs/decisions/0023-benchmarks.md).

::

    python -m scripts.bench.baseline --port 9100 [--http-stack asyncio|uvloop]
"""

from mcp.server.auth.routes import create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from pydantic import AnyHttpUrl
from starlette.applications import Starlette

from scripts.bench.serving import arguments, serve
from scripts.sdk_provider import MemoryProvider

SUBJECT = "demo"


def create_app(issuer: str) -> Starlette:
    routes = create_auth_routes(
        MemoryProvider(SUBJECT),
        AnyHttpUrl(issuer),
        client_registration_options=ClientRegistrationOptions(enabled=True),
        revocation_options=RevocationOptions(enabled=True),
    )
    return Starlette(routes=routes)


def main() -> None:
    args = arguments("python -m scripts.bench.baseline").parse_args()
    serve(create_app(f"http://localhost:{args.port}"), args.port, args.http_stack)


if __name__ == "__main__":
    main()
