"""A small downstream API for the demo (issue 4): ``GET /profile``, protected by a provider's JWTs.

It plays a third party's API behind that party's own authorization server (in the demo, a
second instance of ours on another port). It accepts only access tokens that provider issued
for it: signature checked against the provider's JWK Set (found through its RFC 8414 metadata),
``iss`` the provider's issuer, ``aud`` this API's resource (RFC 9068 §4). So an MCP access token
forwarded by mistake (token passthrough) is refused, and the refusal is logged, without the token.

    python -m scripts.profile_api --port 8100 --issuer http://localhost:9100/mcp/demo
"""

import argparse
import logging

import httpx2
import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcp_authz.shared.well_known import authorization_server_metadata_url

log = logging.getLogger("profile_api")

ALGORITHMS = ["ES256", "EdDSA", "RS256"]
PATH = "/profile"


def create_app(issuer: str, resource: str) -> Starlette:
    jwks: list[jwt.PyJWKClient] = []

    def keys() -> jwt.PyJWKClient:
        if not jwks:
            metadata = httpx2.get(authorization_server_metadata_url(issuer), timeout=10).json()
            jwks.append(jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=True))
        return jwks[0]

    def profile(request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _refused("no bearer token")
        try:
            claims = jwt.decode(
                token,
                keys().get_signing_key_from_jwt(token).key,
                algorithms=ALGORITHMS,
                audience=resource,
                issuer=issuer,
                options={"require": ["iss", "aud", "sub", "exp"]},
            )
        except (jwt.PyJWTError, httpx2.HTTPError) as exc:
            return _refused(f"not a token of {issuer} for {resource}: {type(exc).__name__}")
        log.info("profile of %s served", claims["sub"])
        return JSONResponse(
            {
                "subject": claims["sub"],
                "issuer": claims["iss"],
                "scope": claims.get("scope", ""),
                "message": f"Hello {claims['sub']}, from the profile API of {issuer}",
            }
        )

    return Starlette(routes=[Route(PATH, profile, methods=["GET"])])


def _refused(reason: str) -> JSONResponse:
    log.warning("refused a request: %s", reason)
    return JSONResponse(
        {"error": "invalid_token", "error_description": reason},
        401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.profile_api", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--issuer", required=True, help="the provider whose tokens are accepted")
    parser.add_argument(
        "--resource", help="this API's resource URL, the tokens' aud (default http://localhost:PORT/profile)"
    )
    args = parser.parse_args()
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    resource = args.resource or f"http://localhost:{args.port}{PATH}"
    uvicorn.run(create_app(args.issuer, resource), host="127.0.0.1", port=args.port, access_log=False)


if __name__ == "__main__":
    main()
