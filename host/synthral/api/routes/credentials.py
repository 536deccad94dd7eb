"""Credentials of the workspace: listed masked, written, deleted; never read back through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from synthral.api.access import Editor
from synthral.api.auditing import audit
from synthral.api.pagination import Page
from synthral.api.state import ServerState, server_of
from synthral.services.secrets import CredentialView

__all__ = ["router"]

router = APIRouter(prefix="/credentials", tags=["credentials"])
Server = Annotated[ServerState, Depends(server_of)]


class CredentialInfo(BaseModel):
    """A credential as it may be shown: never its value."""

    id: str
    name: str
    kind: str
    meta: dict[str, Any]
    masked: str
    created_at: datetime
    updated_at: datetime


class CredentialWrite(BaseModel):
    """A credential's value (write-only)."""

    model_config = {"extra": "forbid"}

    value: str | dict[str, Any] = Field(description="A secret string, or an object of fields.")
    kind: str = Field(default="secret", max_length=32)
    meta: dict[str, Any] | None = Field(default=None, description="What may be shown; never the secret.")


def _info(view: CredentialView) -> CredentialInfo:
    return CredentialInfo(
        id=view.id,
        name=view.name,
        kind=view.kind,
        meta=view.meta,
        masked=view.masked,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


@router.get("", response_model=Page[CredentialInfo])
async def list_credentials(access: Editor, server: Server) -> Page[CredentialInfo]:
    """The workspace's credentials, masked (editors and owners), in one page."""
    return Page(items=[_info(view) for view in await server.credentials.list(access.workspace_id)])


@router.put("/{name}", response_model=CredentialInfo)
async def put_credential(
    name: str, body: CredentialWrite, request: Request, access: Editor, server: Server
) -> CredentialInfo:
    """Create or replace a credential; the answer shows it masked."""
    view = await server.credentials.put(access.workspace_id, name, body.value, kind=body.kind, meta=body.meta)
    await audit(
        request, access, "credential.write", target_type="credential", target_id=name, details={"kind": view.kind}
    )
    return _info(view)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_credential(name: str, request: Request, access: Editor, server: Server) -> Response:
    """Delete a credential."""
    await server.credentials.delete(access.workspace_id, name)
    await audit(request, access, "credential.delete", target_type="credential", target_id=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
