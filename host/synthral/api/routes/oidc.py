"""Single sign-on with an OpenID provider: start at the provider, come back with tokens."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from synthral.api.routes.auth import Tokens
from synthral.api.state import ServerState, server_of
from synthral.errors import NotFound
from synthral.services.oidc import OidcService

__all__ = ["router"]

router = APIRouter(tags=["auth"])
Server = Annotated[ServerState, Depends(server_of)]
QueryText = Annotated[str | None, Query(max_length=4096)]
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _oidc(server: ServerState) -> OidcService:
    if server.oidc is None:
        raise NotFound(
            "single sign-on is not configured on this server; sign in with email and password, or set "
            "SYNTHRAL_OIDC_ISSUER, SYNTHRAL_OIDC_CLIENT_ID and SYNTHRAL_OIDC_CLIENT_SECRET and restart it"
        )
    return server.oidc


@router.get(
    "/auth/oidc/login",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={status.HTTP_302_FOUND: {"description": "To the identity provider's sign-in page."}},
)
async def oidc_login(server: Server) -> RedirectResponse:
    """Start single sign-on: redirects the browser to the identity provider."""
    url = await _oidc(server).begin()
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND, headers={"Cache-Control": "no-store"})


class SignInMethods(BaseModel):
    """How people sign in to this server."""

    password: bool
    oidc: bool
    local: bool


@router.get("/auth/methods", response_model=SignInMethods)
async def sign_in_methods(server: Server) -> SignInMethods:
    """Which sign-in methods the server offers (the web app shows the matching buttons)."""
    return SignInMethods(password=not server.local, oidc=server.oidc is not None, local=server.local)


@router.get("/auth/oidc/callback", response_model=Tokens)
async def oidc_callback(
    request: Request,
    server: Server,
    response: Response,
    state: Annotated[str, Query(min_length=1, max_length=4096)],
    code: QueryText = None,
    error: QueryText = None,
) -> Tokens | RedirectResponse:
    """Where the identity provider sends the browser back: this server's tokens for the person.

    A browser navigation (``Accept: text/html``) is sent on to the web app with the tokens in
    the URL fragment, which browsers never send to a server; other clients get them as JSON.
    """
    pair = await _oidc(server).complete(code=code, state=state, error=error)
    tokens = Tokens(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)
    if "text/html" in request.headers.get("accept", ""):
        fragment = urlencode(tokens.model_dump())
        return RedirectResponse(f"/sign-in#{fragment}", status_code=status.HTTP_303_SEE_OTHER, headers=NO_STORE)
    response.headers["Cache-Control"] = "no-store"
    return tokens
