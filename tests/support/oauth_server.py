"""A real OAuth 2.0 authorization server for tests, on 127.0.0.1, in a thread.

Built on authlib's server-side grants (RFC 6749 authorization code and refresh token grants,
RFC 7636 ``CodeChallenge``) behind a small Starlette app served by uvicorn. The authorization
endpoint approves (or, when told to, denies) a fixed test user without a login page and
redirects back with ``code`` and ``state``; the token endpoint authenticates the client
(``client_secret_basic``, ``client_secret_post`` or ``none``), checks the redirect URI, spends
each code once (a replayed code revokes the tokens it issued), checks the PKCE verifier,
issues short-lived bearer tokens and, by default, rotates refresh tokens. ``/userinfo``
accepts a valid access token only, so a test can prove a token works.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.threaded_server import ThreadedServer

__all__ = ["OAuthTestServer", "RegisteredClient", "StarletteAuthorizationServer", "authorize", "read_request"]

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
CODE_LIFETIME = 600.0


@dataclass
class RegisteredClient(ClientMixin):  # type: ignore[misc]
    """A client registered at the provider."""

    client_id: str
    client_secret: str | None
    redirect_uris: list[str]
    scopes: list[str]
    auth_method: AuthMethod = "client_secret_basic"
    refresh_tokens: bool = True

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return " ".join(item for item in scope_to_list(scope) if item in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and hmac.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code" or (grant_type == "refresh_token" and self.refresh_tokens)


@dataclass
class IssuedCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """An authorization code as the server remembers it."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + CODE_LIFETIME


@dataclass
class IssuedToken(TokenMixin):  # type: ignore[misc]
    """An access token, with the refresh token that came with it (if any)."""

    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    user: str
    expires_in: int
    from_code: str | None = None
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: RegisteredClient) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user

    def get_client(self) -> RegisteredClient:
        raise NotImplementedError


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in values:
            self._datalist[key].append(value)
        self._data = {key: items[0] for key, items in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):  # type: ignore[misc]
    """An HTTP request, already read, in the shape authlib's grants expect."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._query = dict(query)
        self._form = dict(form)
        self.payload = _Payload([*query, *form])

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def read_request(request: Request) -> _Request:
    """The Starlette request, body read, as authlib's request."""
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        async with request.form() as data:
            form = [(key, str(value)) for key, value in data.multi_items()]
    return _Request(request.method, str(request.url), request.headers, list(request.query_params.multi_items()), form)


async def authorize(server: AuthorizationServer, request: Request, user: Any, *, approve: bool = True) -> Response:
    """The authorization endpoint: the user consents (or, with ``approve`` False, declines) at once."""
    oauth_request = await read_request(request)
    try:
        grant = server.get_consent_grant(oauth_request, end_user=user)
    except OAuth2Error as error:
        response: Response = server.handle_error_response(oauth_request, error)
        return response
    answer: Response = server.create_authorization_response(
        oauth_request, grant_user=user if approve else None, grant=grant
    )
    return answer


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012

    def save_authorization_code(self, code: str, request: _Request) -> None:
        data = request.payload.data
        self.server.provider.codes[code] = IssuedCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope or "",
            user=request.user,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: RegisteredClient) -> IssuedCode | None:
        provider: OAuthTestServer = self.server.provider
        if code in provider.spent_codes:
            # RFC 6749 §4.1.2: a code used twice revokes what it issued.
            for token in provider.tokens:
                if token.from_code == code:
                    token.revoked = token.refresh_revoked = True
            return None
        item = provider.codes.get(code)
        if item is None or item.client_id != client.client_id or item.is_expired():
            return None
        return item

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        provider: OAuthTestServer = self.server.provider
        provider.codes.pop(authorization_code.code, None)
        provider.spent_codes.add(authorization_code.code)

    def authenticate_user(self, authorization_code: IssuedCode) -> str:
        return authorization_code.user


class _RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012

    def issue_token(self, user: str, refresh_token: IssuedToken) -> dict[str, Any]:
        rotate = self.server.provider.rotate_refresh_tokens
        token: dict[str, Any] = self.generate_token(
            user=user, scope=refresh_token.get_scope(), include_refresh_token=rotate
        )
        return token

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        for token in self.server.provider.tokens:
            if token.refresh_token == refresh_token and not token.refresh_revoked:
                return token
        return None

    def authenticate_user(self, refresh_token: IssuedToken) -> str:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        refresh_token.revoked = refresh_token.refresh_revoked = True
        if not self.server.provider.rotate_refresh_tokens:  # the same refresh token now renews the new access token
            self.server.provider.tokens[-1].refresh_token = refresh_token.refresh_token


class StarletteAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server answering with Starlette responses (requests come read already)."""

    def create_oauth2_request(self, request: _Request) -> _Request:
        return request

    def handle_response(self, status: int, body: object, headers: list[tuple[str, str]]) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(str(body or ""), status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        del name, args, kwargs


class _Server(StarletteAuthorizationServer):
    def __init__(self, provider: OAuthTestServer) -> None:
        super().__init__()
        self.provider = provider
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda **_: generate_token(42),
                lambda **_: generate_token(48),
                lambda client, grant_type: provider.access_token_lifetime,
            ),
        )
        self.register_grant(_CodeGrant, [CodeChallenge(required=True)])
        self.register_grant(_RefreshGrant)

    def query_client(self, client_id: str) -> RegisteredClient | None:
        return self.provider.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        code = request.authorization_code
        self.provider.tokens.append(
            IssuedToken(
                access_token=token["access_token"],
                refresh_token=token.get("refresh_token"),
                client_id=request.client.client_id,
                scope=token.get("scope", ""),
                user=request.user,
                expires_in=int(token.get("expires_in", 0)),
                from_code=None if code is None else code.code,
            )
        )
        self.provider.grants_served.append(request.payload.grant_type)


class OAuthTestServer(ThreadedServer):
    """An OAuth 2.0 provider on 127.0.0.1; use as a context manager.

    Args:
        user: The resource owner the authorization endpoint approves.
        access_token_lifetime: ``expires_in`` of every access token, in seconds.
        rotate_refresh_tokens: A refresh issues a new refresh token and retires the old one.
        approve: When false, the authorization endpoint answers ``error=access_denied``.
    """

    def __init__(
        self,
        *,
        user: str = "ada",
        access_token_lifetime: int = 3600,
        rotate_refresh_tokens: bool = True,
        approve: bool = True,
    ) -> None:
        self.user = user
        self.access_token_lifetime = access_token_lifetime
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.approve = approve
        self.clients: dict[str, RegisteredClient] = {}
        self.codes: dict[str, IssuedCode] = {}
        self.spent_codes: set[str] = set()
        self.tokens: list[IssuedToken] = []
        self.grants_served: list[str] = []
        self.token_requests: list[str] = []
        self.refresh_delay = 0.0
        self._authlib = _Server(self)
        super().__init__(self._app(), "the OAuth test server")

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def authorize_url(self) -> str:
        """The authorization endpoint."""
        return f"{self.url}/authorize"

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return f"{self.url}/token"

    @property
    def userinfo_url(self) -> str:
        """A protected resource: who the bearer token belongs to."""
        return f"{self.url}/userinfo"

    @property
    def refreshes(self) -> int:
        """How many refresh token grants were answered with tokens."""
        return self.grants_served.count("refresh_token")

    @property
    def refresh_attempts(self) -> int:
        """How many refresh token grants were asked for, answered or refused."""
        return self.token_requests.count("refresh_token")

    def add_client(
        self,
        client_id: str,
        client_secret: str | None,
        redirect_uris: list[str],
        *,
        scopes: list[str] | None = None,
        auth_method: AuthMethod = "client_secret_basic",
        refresh_tokens: bool = True,
    ) -> RegisteredClient:
        """Register a client; it may ask for ``scopes`` (default: anything a test uses).

        Without ``refresh_tokens`` it gets access tokens only, as some providers issue.
        """
        client = RegisteredClient(
            client_id, client_secret, redirect_uris, scopes or ["read", "write", "profile"], auth_method, refresh_tokens
        )
        self.clients[client_id] = client
        return client

    def revoke_all(self) -> None:
        """Revoke every token, as a user disconnecting the app at the provider would."""
        for token in self.tokens:
            token.revoked = token.refresh_revoked = True

    # -- the HTTP side -------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self._authorize, methods=["GET"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/userinfo", self._userinfo, methods=["GET"]),
            ]
        )

    async def _authorize(self, request: Request) -> Response:
        return await authorize(self._authlib, request, self.user, approve=self.approve)

    async def _token(self, request: Request) -> Response:
        oauth_request = await read_request(request)
        self.token_requests.append(str(oauth_request.payload.grant_type))
        if self.refresh_delay and oauth_request.payload.grant_type == "refresh_token":
            await asyncio.sleep(self.refresh_delay)  # widens the window for concurrent refreshes
        response: Response = self._authlib.create_token_response(oauth_request)
        return response

    async def _userinfo(self, request: Request) -> Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        for token in self.tokens:
            if scheme.lower() == "bearer" and token.access_token == value:
                if token.revoked or token.is_expired():
                    break
                return JSONResponse({"sub": token.user, "scope": token.scope})
        return JSONResponse(
            {"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
