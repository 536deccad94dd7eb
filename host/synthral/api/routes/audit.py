"""``GET /audit``: the workspace's audit log for owners, filtered; ``GET /audit/verify``: the chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from synthral.api.access import Owner
from synthral.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from synthral.api.state import ServerState, server_of
from synthral.errors import InputInvalid

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"])
Server = Annotated[ServerState, Depends(server_of)]


class AuditEventOut(BaseModel):
    """One audited act."""

    id: int
    at: str
    actor_kind: str
    actor_id: str | None
    action: str
    outcome: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class ChainOut(BaseModel):
    """Whether the whole log's hash chain verifies."""

    ok: bool
    checked: int
    head_id: int
    head_hash: str
    broken_at: int | None
    reason: str | None


@router.get("", response_model=Page[AuditEventOut])
async def list_events(
    access: Owner,
    server: Server,
    action: Annotated[str | None, Query(max_length=64, description="Only this act, e.g. auth.login.")] = None,
    actor: Annotated[str | None, Query(max_length=64, description="Only acts of this user id.")] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=256)] = None,
    outcome: Annotated[str | None, Query(max_length=16, description="success or failure.")] = None,
    since: Annotated[datetime | None, Query(description="From this moment (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Before this moment (ISO 8601).")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AuditEventOut]:
    """The workspace's audited acts, newest first."""
    before = decode_cursor(cursor)
    if before is not None and not isinstance(before, int):
        raise InputInvalid("the cursor is not one this server made; pass next_cursor from the previous page")
    events, next_before = await server.audit.query(
        access.workspace_id,
        action=action,
        actor_id=actor,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        since=since,
        until=until,
        before_id=before,
        limit=limit,
    )
    items = [AuditEventOut(**{k: v for k, v in vars(e).items() if k != "workspace_id"}) for e in events]
    return Page[AuditEventOut](items=items, next_cursor=encode_cursor(next_before) if next_before else None)


@router.get("/verify", response_model=ChainOut)
async def verify(access: Owner, server: Server) -> ChainOut:
    """Walk the hash chain from the first row; ``broken_at`` names the first row that fails."""
    del access
    report = await server.audit.verify()
    return ChainOut(**vars(report))
