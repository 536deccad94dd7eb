"""Sign-in, tokens, API keys, two-factor, and the signed-in user's workspaces and members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from synthral.api.access import CurrentPrincipal, Owner, Viewer
from synthral.api.auditing import audit
from synthral.api.pagination import Page
from synthral.api.state import ServerState, server_of
from synthral.errors import AuthenticationFailed, NotFound
from synthral.store.tables import Role

__all__ = ["router"]

router = APIRouter(tags=["auth"])
Server = Annotated[ServerState, Depends(server_of)]
RoleName = Annotated[str, Field(pattern=f"^({'|'.join(Role.ALL)})$")]


class Login(BaseModel):
    """Credentials for sign-in."""

    model_config = {"extra": "forbid"}

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    totp_code: str | None = Field(default=None, max_length=12, description="Needed when two-factor is enabled.")


class RefreshRequest(BaseModel):
    """A refresh token to exchange (or revoke)."""

    model_config = {"extra": "forbid"}

    refresh_token: str = Field(max_length=512)


class Tokens(BaseModel):
    """An access token (30 minutes) and a refresh token (14 days, single use)."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    """The signed-in user and their workspaces."""

    user_id: str
    email: str
    method: str
    workspaces: list[dict[str, str]]


class NewApiKey(BaseModel):
    """An API key to create in the current workspace."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=100)
    expires_at: datetime | None = None
    workflow_id: str | None = Field(
        default=None, description="Scope the key to this workflow's chat copilot (an embedded widget's key)."
    )


class ApiKeyInfo(BaseModel):
    """An API key, without its secret."""

    id: str
    name: str
    workspace_id: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    workflow_id: str | None = Field(default=None, description="Set: the key may only use this workflow's copilot.")


class ApiKeyCreated(ApiKeyInfo):
    """A new API key; ``key`` is shown this once."""

    key: str


class TotpCode(BaseModel):
    """A code from the authenticator app."""

    model_config = {"extra": "forbid"}

    code: str = Field(min_length=6, max_length=12)


class TotpSetup(BaseModel):
    """What to load into an authenticator app, then confirm with a code."""

    otpauth_uri: str


class NewWorkspace(BaseModel):
    """A workspace to create; its creator becomes its owner."""

    model_config = {"extra": "forbid"}

    slug: str = Field(min_length=2, max_length=63)
    name: str = Field(min_length=1, max_length=200)


class WorkspaceInfo(BaseModel):
    """A workspace and the caller's role in it."""

    id: str
    slug: str
    name: str
    role: str


class MemberChange(BaseModel):
    """Add a member (by email) or change their role."""

    model_config = {"extra": "forbid"}

    email: str = Field(max_length=320)
    role: RoleName


@router.post("/auth/login", response_model=Tokens)
async def login(body: Login, request: Request, server: Server) -> Tokens:
    """Sign in with email and password (and a TOTP code when enabled)."""
    try:
        pair = await server.identity.login(body.email, body.password, totp_code=body.totp_code)
    except AuthenticationFailed:
        known = await server.identity.user_id_by_email(body.email)
        await audit(
            request,
            None,
            "auth.login_failed",
            outcome="failure",
            target_type="user",
            target_id=known,
            details={"email": body.email[:320]},
        )
        raise
    user = await server.identity.user_id_by_email(body.email)
    await audit(request, None, "auth.login", actor_id=user, target_type="user", target_id=user)
    return Tokens(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/auth/refresh", response_model=Tokens)
async def refresh(body: RefreshRequest, server: Server) -> Tokens:
    """Exchange a refresh token for new tokens; a token used twice revokes its whole family."""
    pair = await server.identity.refresh(body.refresh_token)
    return Tokens(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, principal: CurrentPrincipal, server: Server) -> Response:
    """Revoke the refresh token's family (sign out that session)."""
    del principal
    await server.identity.logout(body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me", response_model=Me)
async def me(principal: CurrentPrincipal, server: Server) -> Me:
    """Who the token belongs to, and where they are a member."""
    workspaces = await server.identity.workspaces_of(principal.user_id)
    if principal.workspace_id is not None:
        workspaces = [(w, r) for w, r in workspaces if w.id == principal.workspace_id]
    return Me(
        user_id=principal.user_id,
        email=principal.email,
        method=principal.method,
        workspaces=[{"id": w.id, "slug": w.slug, "name": w.name, "role": r} for w, r in workspaces],
    )


@router.post("/auth/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(body: NewApiKey, request: Request, access: Viewer, server: Server) -> ApiKeyCreated:
    """Create an API key acting as you in the current workspace (with your role there)."""
    key, secret = await server.identity.create_api_key(
        access.principal.user_id,
        access.workspace_id,
        body.name,
        expires_at=body.expires_at,
        workflow_id=body.workflow_id,
    )
    await audit(request, access, "api_key.create", target_type="api_key", target_id=key.id, details={"name": body.name})
    return ApiKeyCreated(**ApiKeyInfo.model_validate(key, from_attributes=True).model_dump(), key=secret)


@router.get("/auth/api-keys", response_model=Page[ApiKeyInfo])
async def list_api_keys(principal: CurrentPrincipal, server: Server) -> Page[ApiKeyInfo]:
    """Your API keys (never their secrets), in one page."""
    keys = await server.identity.list_api_keys(principal.user_id)
    return Page(items=[ApiKeyInfo.model_validate(key, from_attributes=True) for key in keys])


@router.delete("/auth/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: str, request: Request, principal: CurrentPrincipal, server: Server) -> Response:
    """Revoke one of your API keys."""
    await server.identity.revoke_api_key(key_id, user_id=principal.user_id)
    await audit(
        request,
        principal,
        "api_key.revoke",
        workspace_id=principal.workspace_id,
        target_type="api_key",
        target_id=key_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/totp", response_model=TotpSetup)
async def begin_totp(principal: CurrentPrincipal, server: Server) -> TotpSetup:
    """Start two-factor set-up; confirm it with a code to turn it on."""
    return TotpSetup(otpauth_uri=await server.identity.begin_totp(principal.user_id))


@router.post("/auth/totp/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_totp(body: TotpCode, principal: CurrentPrincipal, server: Server) -> Response:
    """Turn two-factor on with a current code."""
    await server.identity.confirm_totp(principal.user_id, body.code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/totp/disable", status_code=status.HTTP_204_NO_CONTENT)
async def disable_totp(body: TotpCode, principal: CurrentPrincipal, server: Server) -> Response:
    """Turn two-factor off with a current code."""
    await server.identity.disable_totp(principal.user_id, body.code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/workspaces", status_code=status.HTTP_201_CREATED, response_model=WorkspaceInfo)
async def create_workspace(body: NewWorkspace, principal: CurrentPrincipal, server: Server) -> WorkspaceInfo:
    """Create a workspace; you become its owner."""
    workspace = await server.identity.create_workspace(body.slug, body.name, owner_id=principal.user_id)
    return WorkspaceInfo(id=workspace.id, slug=workspace.slug, name=workspace.name, role=Role.OWNER)


@router.get("/workspaces", response_model=Page[WorkspaceInfo])
async def list_workspaces(principal: CurrentPrincipal, server: Server) -> Page[WorkspaceInfo]:
    """The workspaces you belong to, with your role, in one page."""
    rows = await server.identity.workspaces_of(principal.user_id)
    return Page(items=[WorkspaceInfo(id=w.id, slug=w.slug, name=w.name, role=r) for w, r in rows])


@router.put("/workspace/members", status_code=status.HTTP_204_NO_CONTENT)
async def set_member(body: MemberChange, request: Request, access: Owner, server: Server) -> Response:
    """Add a user to the current workspace, or change their role (owners only)."""
    user_id = await server.identity.user_id_by_email(body.email)
    if user_id is None:
        raise NotFound(f"no user {body.email!r}; they must have an account first", details={"email": body.email})
    before = await server.identity.role_in(user_id, access.workspace_id)
    if before is None:
        await server.identity.add_member(access.workspace_id, user_id, body.role)
    else:
        await server.identity.set_role(access.workspace_id, user_id, body.role)
    await audit(
        request,
        access,
        "member.add" if before is None else "member.role_change",
        target_type="user",
        target_id=user_id,
        details={"role": body.role, "previous_role": before},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/workspace/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(user_id: str, request: Request, access: Owner, server: Server) -> Response:
    """Remove a member from the current workspace (owners only; the last owner stays)."""
    role = await server.identity.role_in(user_id, access.workspace_id)
    if role is None:
        raise NotFound("no such member in this workspace", details={"user_id": user_id})
    await server.identity.remove_member(access.workspace_id, user_id)
    await audit(request, access, "member.remove", target_type="user", target_id=user_id, details={"role": role})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
