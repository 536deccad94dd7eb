"""Operations for owners: health of workers and queue, bulk replay of failed runs, plugin processes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from synthral.api.access import Owner
from synthral.api.pagination import Page
from synthral.api.state import ServerState, server_of
from synthral.services.admin import MAX_BULK, AdminService

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"])
Server = Annotated[ServerState, Depends(server_of)]


class HealthInfo(BaseModel):
    """Workers seen in the last ten minutes (server-wide) and the workspace's queue."""

    checked_at: str
    workers: list[dict[str, Any]]
    queue: dict[str, Any]


class BulkReplay(BaseModel):
    """Runs to replay from the step that failed."""

    model_config = {"extra": "forbid"}

    execution_ids: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=MAX_BULK)


class ReplayResult(BaseModel):
    """One run's replay: the new run's id, or why it was not replayed."""

    execution_id: str
    replayed_as: str | None
    error: str | None


class ProcessInfo(BaseModel):
    """An installed plugin version's process."""

    name: str
    version: str
    enabled: bool
    state: str
    pid: int | None
    restarts: int
    consecutive_failures: int
    uptime_seconds: float | None
    rss_bytes: int | None


def _admin(server: ServerState) -> AdminService:
    return AdminService(server.app.workflows, server.app.plugins)


@router.get("/health", response_model=HealthInfo)
async def health(access: Owner, server: Server) -> HealthInfo:
    """Workers, queue depth, the oldest queued run, live and recently failed runs."""
    return HealthInfo(**asdict(await _admin(server).health(access.workspace_id)))


@router.post("/replay", response_model=list[ReplayResult])
async def bulk_replay(body: BulkReplay, access: Owner, server: Server) -> list[ReplayResult]:
    """Replay several finished runs, each from the step that failed; each result says what happened."""
    outcomes = await _admin(server).replay_many(body.execution_ids, workspace_id=access.workspace_id)
    return [ReplayResult(**asdict(outcome)) for outcome in outcomes]


@router.get("/processes", response_model=Page[ProcessInfo])
async def processes(access: Owner, server: Server) -> Page[ProcessInfo]:
    """Every installed plugin version's process: state, restarts, uptime, resident memory (one page)."""
    del access
    return Page(items=[ProcessInfo(**row) for row in _admin(server).processes()])
