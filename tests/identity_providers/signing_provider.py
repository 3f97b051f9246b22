"""A small OpenID provider that signs its ID tokens with a test key and can be told to get them wrong.

The real provider (``provider.mjs``, panva's oidc-provider) signs only correct tokens. The checks of
OIDC Core §3.1.3.7 and RFC 9207 are tested against this one: a real HTTP server on loopback with
discovery, a JWK Set, an authorization endpoint that answers at once (no sign-in page: it vouches
for :attr:`SigningProvider.person`), and a token endpoint that checks the client's secret (Basic),
the code and the PKCE verifier (RFC 7636 §4.6) before it answers with an ID token built from the
request's ``nonce``, changed by :attr:`SigningProvider.tamper`.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

CLIENT_ID, CLIENT_SECRET = "our-as", "signing-provider-secret"


class SigningProvider:
    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.keys = [self.new_key("k1")]
        #: The person the next sign-in vouches for: the ID token's claims besides the protocol's own.
        self.person: dict[str, Any] = {"sub": "bob-sub", "email": "bob@example.com", "name": "Bob"}
        #: Claims of the next ID token to replace (``None``: leave the claim out); the response's ``iss``.
        self.tamper: dict[str, Any] = {}
        self.response_iss: str | None = ""  # "": the issuer; None: left out
        self.sign_with: ec.EllipticCurvePrivateKey | None = None  # a key not in the JWK Set
        #: The token endpoint gone: each request's connection is closed without an answer (a provider down).
        self.token_endpoint_down = False
        #: How our client must authenticate at the token endpoint: ``client_secret_basic`` or ``client_secret_post``.
        self.auth_method = "client_secret_basic"
        #: The public JWK of our client's ``private_key_jwt`` key, once registered here (RFC 7523 §2.2).
        self.assertion_key: dict[str, Any] | None = None
        self._codes: dict[str, dict[str, str]] = {}
        self.redeemed = 0
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def new_key(self, kid: str) -> tuple[str, ec.EllipticCurvePrivateKey]:
        return kid, ec.generate_private_key(ec.SECP256R1())

    def rotate(self) -> None:
        """A new signing key replaces the old in the JWK Set (the provider's key rotation)."""
        self.keys = [self.new_key(f"k{secrets.token_hex(4)}")]

    def reset(self) -> None:
        self.person = {"sub": "bob-sub", "email": "bob@example.com", "name": "Bob"}
        self.tamper, self.response_iss, self.sign_with, self.assertion_key = {}, "", None, None
        self.token_endpoint_down, self.auth_method = False, "client_secret_basic"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # What the handler calls --------------------------------------------------------------------

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys:
            jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "ES256"})
        return {"keys": keys}

    def authorize(self, query: dict[str, str]) -> str:
        code = secrets.token_urlsafe(16)
        self._codes[code] = query
        answer = {"code": code, "state": query["state"]}
        if self.response_iss is not None:
            answer["iss"] = self.response_iss or self.issuer
        return query["redirect_uri"] + "?" + urlencode(answer)

    def authenticated(self, form: dict[str, str], authorization: str | None) -> bool:
        """client_secret_basic or client_secret_post (OIDC Core §9, as :attr:`auth_method` says, the other refused),
        or a private_key_jwt assertion by the registered key (RFC 7523 §3)."""
        if self.assertion_key is None and self.auth_method == "client_secret_post":
            posted = (form.get("client_id"), form.get("client_secret"))
            return authorization is None and posted == (CLIENT_ID, CLIENT_SECRET)
        if self.assertion_key is None:
            basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            return "client_secret" not in form and authorization == basic
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return False
        try:
            claims = jwt.decode(
                form.get("client_assertion", ""),
                jwt.PyJWK(self.assertion_key).key,
                algorithms=["ES256"],
                audience=self.issuer,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.PyJWTError:
            return False
        return claims["iss"] == claims["sub"] == form.get("client_id") == CLIENT_ID

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        if not self.authenticated(form, authorization):
            return 401, {"error": "invalid_client"}
        request = self._codes.pop(form.get("code", ""), None)
        if request is None or form.get("redirect_uri") != request["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if challenge.rstrip(b"=").decode() != request["code_challenge"] or request["code_challenge_method"] != "S256":
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        self.redeemed += 1
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": request["nonce"],
            **self.person,
        }
        for name, value in self.tamper.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        kid, key = self.keys[0]
        token = jwt.encode(claims, self.sign_with or key, algorithm="ES256", headers={"kid": kid})
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "id_token": token}


def _handler(provider: SigningProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, provider.configuration())
            elif parts.path == "/jwks":
                self._json(200, provider.jwks())
            elif parts.path == "/authorize":
                self.send_response(303)
                self.send_header("Location", provider.authorize(dict(parse_qsl(parts.query))))
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if provider.token_endpoint_down:
                self.close_connection = True
                return
            length = int(self.headers.get("content-length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            self._json(*provider.token(form, self.headers.get("authorization")))

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
