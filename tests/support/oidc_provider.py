"""A real OpenID Connect provider for tests, on 127.0.0.1, in a thread.

Built on authlib's server side: the RFC 6749 authorization code grant with RFC 7636
``CodeChallenge`` and the OpenID Connect ``OpenIDCode`` extension, which adds an ``id_token``
(RS256, with the request's ``nonce``) to the token response. An RSA key made at start with
``cryptography`` signs the ID tokens; its public half is published at ``/jwks`` and named in
the discovery document at ``/.well-known/openid-configuration``.

The authorization endpoint approves :attr:`OidcTestProvider.user` without a login page. Tests
can misconfigure the provider on purpose: another audience, another nonce, or ID tokens
signed with a key that is not the published one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.oauth_server import (
    RegisteredClient,
    StarletteAuthorizationServer,
    _Request,
    authorize,
    read_request,
)
from tests.support.threaded_server import ThreadedServer

__all__ = ["OidcTestProvider", "OidcUser"]

CODE_LIFETIME = 600.0


@dataclass
class OidcUser:
    """The person the provider signs in."""

    sub: str = "ada-7f3c"
    email: str | None = "ada@example.com"
    email_verified: bool = True
    name: str = "Ada Lovelace"


@dataclass
class IssuedCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """An authorization code as the provider remembers it, with the sign-in's nonce."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: OidcUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.issued_at)

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + CODE_LIFETIME


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012

    def save_authorization_code(self, code: str, request: _Request) -> None:
        data = request.payload.data
        provider: OidcTestProvider = self.server.provider
        provider.nonces.add(data.get("nonce", ""))
        provider.codes[code] = IssuedCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope or "",
            user=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: RegisteredClient) -> IssuedCode | None:
        item = self.server.provider.codes.get(code)
        if item is None or item.client_id != client.client_id or item.is_expired():
            return None
        return item

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        self.server.provider.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: IssuedCode) -> OidcUser:
        return authorization_code.user


class _OpenIdCode(OpenIDCode):  # type: ignore[misc]
    def __init__(self, provider: OidcTestProvider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: _Request) -> bool:
        return nonce in self.provider.nonces

    def resolve_client_private_key(self, client: RegisteredClient) -> RSAKey:
        return self.provider.id_token_key

    def get_client_algorithm(self, client: RegisteredClient) -> str:
        return "RS256"

    def get_client_claims(self, client: RegisteredClient) -> dict[str, Any]:
        return {"iss": self.provider.issuer, "aud": [self.provider.audience or client.client_id]}

    def get_encode_header(self, client: RegisteredClient) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.provider.kid}

    def get_authorization_code_claims(self, authorization_code: IssuedCode) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if self.provider.id_token_nonce is not None:
            claims["nonce"] = self.provider.id_token_nonce
        return claims

    def generate_user_info(self, user: OidcUser, scope: str) -> UserInfo:
        info = UserInfo(sub=user.sub, name=user.name)
        if user.email is not None:
            info["email"] = user.email
            info["email_verified"] = user.email_verified
        return info


class _Server(StarletteAuthorizationServer):
    def __init__(self, provider: OidcTestProvider) -> None:
        super().__init__()
        self.provider = provider
        self.register_token_generator(
            "default",
            BearerTokenGenerator(lambda **_: generate_token(42), lambda **_: generate_token(48), lambda *_: 3600),
        )
        self.register_grant(_CodeGrant, [CodeChallenge(required=True), _OpenIdCode(provider)])

    def query_client(self, client_id: str) -> RegisteredClient | None:
        return self.provider.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        self.provider.tokens_issued += 1


def _new_key(kid: str) -> RSAKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return RSAKey.import_key(pem, {"kid": kid, "use": "sig", "alg": "RS256"})


class OidcTestProvider(ThreadedServer):
    """An OpenID provider on 127.0.0.1; use as a context manager.

    Args:
        user: The person the authorization endpoint approves (changeable between sign-ins).

    Attributes:
        audience: Put this ``aud`` in ID tokens instead of the client id (a misconfiguration).
        id_token_nonce: Put this ``nonce`` in ID tokens instead of the request's.
        id_token_key: The key that signs ID tokens; see :meth:`sign_with_unpublished_key`.
    """

    def __init__(self, *, user: OidcUser | None = None) -> None:
        self.user = user or OidcUser()
        self.kid = generate_token(8)
        self.signing_key = _new_key(self.kid)
        self.id_token_key = self.signing_key
        self.audience: str | None = None
        self.id_token_nonce: str | None = None
        self.clients: dict[str, RegisteredClient] = {}
        self.codes: dict[str, IssuedCode] = {}
        self.nonces: set[str] = set()
        self.tokens_issued = 0
        self._authlib = _Server(self)
        super().__init__(self._app(), "the OpenID test provider")

    @property
    def issuer(self) -> str:
        """The issuer URL (also the base of every endpoint)."""
        return f"http://127.0.0.1:{self.port}"

    def add_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> RegisteredClient:
        """Register a confidential client that authenticates with HTTP Basic at the token endpoint."""
        client = RegisteredClient(client_id, client_secret, redirect_uris, ["openid", "email", "profile"])
        self.clients[client_id] = client
        return client

    def sign_with_unpublished_key(self) -> None:
        """Sign ID tokens from now on with a new key under the published key's id."""
        self.id_token_key = _new_key(self.kid)

    # -- the HTTP side -------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery, methods=["GET"]),
                Route("/jwks", self._jwks, methods=["GET"]),
                Route("/authorize", self._authorize, methods=["GET"]),
                Route("/token", self._token, methods=["POST"]),
            ]
        )

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.signing_key.as_dict(private=False)]})

    async def _authorize(self, request: Request) -> Response:
        return await authorize(self._authlib, request, self.user)

    async def _token(self, request: Request) -> Response:
        response: Response = self._authlib.create_token_response(await read_request(request))
        return response
