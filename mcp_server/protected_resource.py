"""Protected resource metadata (RFC 9728): what this server is and which issuer it trusts.

Served at the path-inserted well-known URL (RFC 9728 §3.1) and at the root one, which older
clients probe; both documents are built once and served as bytes.
"""

import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from mcp_authz.mcp_server.settings import Settings
from mcp_authz.shared.metadata import ProtectedResourceMetadata
from mcp_authz.shared.well_known import PROTECTED_RESOURCE_SUFFIX, protected_resource_metadata_url


def metadata_document(settings: Settings) -> bytes:
    return json.dumps(
        ProtectedResourceMetadata(
            resource=settings.resource,
            authorization_servers=(settings.auth_server,),
            scopes_supported=settings.scopes,
            bearer_methods_supported=("header",),
            resource_name=settings.name,
        ).to_json()
    ).encode()


def metadata_paths(settings: Settings) -> list[str]:
    """The path-inserted URL's path and the root well-known path (RFC 9728 §3.1)."""
    inserted = "/" + protected_resource_metadata_url(settings.resource).split("/", 3)[3]
    return list(dict.fromkeys([inserted.split("?")[0], f"/.well-known/{PROTECTED_RESOURCE_SUFFIX}"]))


def metadata_endpoint(document: bytes) -> Callable[[Request], Awaitable[Response]]:
    async def protected_resource_metadata(request: Request) -> Response:
        return Response(document, media_type="application/json")

    return protected_resource_metadata
