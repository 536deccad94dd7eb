"""The current workspace's members, and the signed-in account's own settings."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from synthral.api.access import CurrentPrincipal, Viewer
from synthral.api.pagination import Page
from synthral.api.state import ServerState, server_of
from synthral.services.members import MemberDirectory

__all__ = ["router"]

router = APIRouter(tags=["auth"])
Server = Annotated[ServerState, Depends(server_of)]


class MemberInfo(BaseModel):
    """A member of the workspace."""

    user_id: str
    email: str
    display_name: str
    role: str
    totp_enabled: bool


class AccountInfo(BaseModel):
    """The signed-in account's settings."""

    user_id: str
    email: str
    method: str
    totp_enabled: bool
    local: bool


@router.get("/workspace/members", response_model=Page[MemberInfo])
async def list_members(access: Viewer, server: Server) -> Page[MemberInfo]:
    """Everyone in the current workspace with their role, in one page (change them with PUT /workspace/members)."""
    members = await MemberDirectory(server.app.database).members(access.workspace_id)
    return Page(items=[MemberInfo(**asdict(member)) for member in members])


@router.get("/auth/account", response_model=AccountInfo)
async def account(principal: CurrentPrincipal, server: Server) -> AccountInfo:
    """Whether two-factor sign-in is on, and whether this is the local single-user mode."""
    enabled = await MemberDirectory(server.app.database).totp_enabled(principal.user_id)
    return AccountInfo(
        user_id=principal.user_id,
        email=principal.email,
        method=principal.method,
        totp_enabled=enabled,
        local=server.local,
    )
