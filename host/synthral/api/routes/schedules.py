"""What starts a workflow: its schedules with their next slots, its webhook subscription (no secrets)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from synthral.api.access import Viewer
from synthral.api.pagination import Page
from synthral.api.state import ServerState, server_of
from synthral.services.triggers import TriggerService

__all__ = ["router"]

router = APIRouter(prefix="/workflows", tags=["workflows"])
Server = Annotated[ServerState, Depends(server_of)]


class ScheduleInfo(BaseModel):
    """A cron trigger of the latest version, with its next slots in UTC and in its own time zone."""

    id: str
    trigger_index: int
    cron: str
    timezone: str
    catch_up: str
    is_active: bool
    input: dict[str, Any]
    next_run_at: str | None
    last_run_at: str | None
    fired_count: int
    missed_count: int
    upcoming: list[dict[str, str]]


class WebhookInfo(BaseModel):
    """A workflow's webhook trigger; ``url`` is where senders deliver. The secret is shown only when made."""

    workflow_id: str
    has_trigger: bool
    connector: str | None
    url: str | None
    scheme: str | None
    subscribed: bool
    rotated_at: str | None


def _triggers(server: ServerState) -> TriggerService:
    return TriggerService(server.app.workflows, server.credentials)


@router.get("/{workflow_id}/schedules", response_model=Page[ScheduleInfo])
async def list_schedules(
    workflow_id: str,
    access: Viewer,
    server: Server,
    upcoming: Annotated[int, Query(ge=0, le=20, description="How many next slots to compute per schedule.")] = 5,
) -> Page[ScheduleInfo]:
    """The workflow's cron schedules and their next fire times, in one page."""
    views = await _triggers(server).schedules(workflow_id, workspace_id=access.workspace_id, upcoming=upcoming)
    return Page(items=[ScheduleInfo(**asdict(view)) for view in views])


@router.get("/{workflow_id}/webhook", response_model=WebhookInfo)
async def webhook_info(workflow_id: str, access: Viewer, server: Server) -> WebhookInfo:
    """The workflow's webhook URL and scheme, and when its secret was last made (rotate with POST)."""
    view = await _triggers(server).webhook(workflow_id, workspace_id=access.workspace_id)
    data = asdict(view)
    path = data.pop("path")
    return WebhookInfo(**data, url=server.public_url + path if path else None)
