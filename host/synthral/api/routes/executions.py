"""Executions: list, status with steps, replay, cancel, pause, resume, signal."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from synthral.api.access import Editor, Viewer
from synthral.api.pagination import Cursor, Limit, Page, encode_cursor, text_cursor
from synthral.api.state import ServerState, server_of

__all__ = ["StatusFilter", "executions_page", "router"]

router = APIRouter(tags=["executions"])
Server = Annotated[ServerState, Depends(server_of)]
StatusFilter = Annotated[
    str | None, Query(alias="status", max_length=32, description="Only executions in this status.")
]


async def executions_page(
    server: ServerState, workspace_id: str, workflow: str | None, status: str | None, limit: int, cursor: str | None
) -> Page[dict[str, Any]]:
    """One page of the workspace's executions (of one workflow when named), newest first."""
    rows = await server.app.workflows.executions(
        workflow=workflow, status=status, limit=limit, before=text_cursor(cursor), workspace_id=workspace_id
    )
    return Page(items=rows, next_cursor=encode_cursor(rows[-1]["id"]) if len(rows) == limit else None)


class ExecutionDetail(BaseModel):
    """An execution and every step attempt."""

    execution: dict[str, Any]
    steps: list[dict[str, Any]]


class ReplayRequest(BaseModel):
    """How to replay a finished run."""

    model_config = {"extra": "forbid"}

    from_node: str | None = Field(
        default=None, max_length=200, description="Re-run from this node; by default from the step that failed."
    )
    latest: bool = Field(default=False, description="Run the workflow's latest version instead of the original one.")


class SignalRequest(BaseModel):
    """A signal for a waiting run."""

    model_config = {"extra": "forbid"}

    type: Literal["human_input", "webhook", "connector_ready", "custom"] = "custom"
    name: str = Field(default="", max_length=200, description="For custom signals: the name a node waits for.")
    data: dict[str, Any] = Field(default_factory=dict)
    dedupe_key: str | None = Field(default=None, max_length=200, description="A second signal with it is ignored.")


class Accepted(BaseModel):
    """The request was taken."""

    execution_id: str
    status: str


class SignalAccepted(BaseModel):
    """Whether the signal was new."""

    delivered: bool = Field(description="False when a signal with the same dedupe_key was delivered before.")


@router.get("/executions")
async def list_executions(
    access: Viewer,
    server: Server,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    status_filter: StatusFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[dict[str, Any]]:
    """The workspace's executions, newest first."""
    return await executions_page(server, access.workspace_id, workflow, status_filter, limit, cursor)


@router.get("/executions/{execution_id}", response_model=ExecutionDetail)
@router.get("/workflows/executions/{execution_id}/status", response_model=ExecutionDetail, include_in_schema=False)
async def execution_status(execution_id: str, access: Viewer, server: Server) -> ExecutionDetail:
    """An execution's status and every step attempt."""
    view = await server.app.workflows.execution(execution_id, workspace_id=access.workspace_id)
    return ExecutionDetail(execution=view.execution, steps=view.steps)


@router.post("/executions/{execution_id}/replay", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
@router.post(
    "/workflows/executions/{execution_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    include_in_schema=False,
)
async def replay_execution(execution_id: str, request: ReplayRequest, access: Editor, server: Server) -> Accepted:
    """Replay a finished run as a new execution, reusing what succeeded."""
    new_id = await server.app.workflows.replay(
        execution_id, from_node=request.from_node, latest=request.latest, workspace_id=access.workspace_id
    )
    return Accepted(execution_id=new_id, status="queued")


@router.post("/executions/{execution_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def cancel_execution(execution_id: str, access: Editor, server: Server) -> Accepted:
    """Cancel a run: at once if no worker runs it, else at its worker's next check."""
    await server.app.workflows.cancel(execution_id, workspace_id=access.workspace_id)
    view = await server.app.workflows.execution(execution_id, workspace_id=access.workspace_id)
    return Accepted(execution_id=execution_id, status=view.status)


@router.post("/executions/{execution_id}/pause", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def pause_execution(execution_id: str, access: Editor, server: Server) -> Accepted:
    """Pause a run at its next step boundary."""
    await server.app.workflows.pause(execution_id, workspace_id=access.workspace_id)
    view = await server.app.workflows.execution(execution_id, workspace_id=access.workspace_id)
    return Accepted(execution_id=execution_id, status=view.status)


@router.post("/executions/{execution_id}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def resume_execution(execution_id: str, access: Editor, server: Server) -> Accepted:
    """Resume a paused run."""
    await server.app.workflows.resume(execution_id, workspace_id=access.workspace_id)
    return Accepted(execution_id=execution_id, status="queued")


@router.post("/executions/{execution_id}/signal", response_model=SignalAccepted)
async def signal_execution(execution_id: str, request: SignalRequest, access: Editor, server: Server) -> SignalAccepted:
    """Send a signal (a human's answer, a webhook, a custom event) to a run, once per dedupe key."""
    delivered = await server.app.workflows.signal(
        execution_id,
        signal_type=request.type,
        name=request.name,
        data=request.data,
        dedupe_key=request.dedupe_key,
        workspace_id=access.workspace_id,
    )
    return SignalAccepted(delivered=delivered)
