"""Workflows: create, read, list, update (a new version), delete, versions, run, their executions."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from synthral.api.access import Editor, Viewer
from synthral.api.auditing import audit
from synthral.api.pagination import Cursor, Limit, Page, encode_cursor, text_cursor
from synthral.api.routes.executions import StatusFilter, executions_page
from synthral.api.state import ServerState, server_of
from synthral.engine.model import Workflow
from synthral.engine.repository import SavedVersion
from synthral.errors import Conflict, InputInvalid, SynthralError
from synthral.services.overview import last_runs

__all__ = ["router"]

router = APIRouter(prefix="/workflows", tags=["workflows"])
Server = Annotated[ServerState, Depends(server_of)]


class WorkflowSaved(BaseModel):
    """A stored workflow version."""

    id: str
    name: str
    version: int
    created: bool = Field(description="False when the graph equals the latest version (no new version).")
    plugin_versions: dict[str, str]


class WorkflowDetail(WorkflowSaved):
    """A workflow version with its graph."""

    workflow: Workflow


class WorkflowSummary(BaseModel):
    """A workflow in a listing."""

    id: str
    name: str
    description: str | None = None
    version: int
    is_active: bool
    created_at: str
    updated_at: str
    last_run: dict[str, Any] | None = Field(
        default=None, description="The newest run: execution_id, status, started_at."
    )


class VersionSummary(BaseModel):
    """One version of a workflow."""

    version: int
    digest: str
    plugin_versions: dict[str, str]
    created_at: str


class RunRequest(BaseModel):
    """Start a run."""

    model_config = {"extra": "forbid"}

    trigger_data: dict[str, Any] = Field(default_factory=dict, description="The run's input (templates: trigger).")
    version: int | None = Field(default=None, ge=1, description="The version to run; the latest by default.")


class Problem(BaseModel):
    """One problem with a workflow definition."""

    node_id: str | None = Field(description="The node it is in; null for the workflow (an edge, a trigger).")
    pointer: str = Field(
        description="RFC 6901 JSON Pointer of the field: into the node object when node_id is set, else the workflow."
    )
    message: str = Field(description="The problem and its fix.")
    code: str = Field(description="A stable name: config_invalid, edge_unknown_target, bad_handle…")
    severity: str = Field(description="'error': the workflow cannot be saved with it.")


class Validation(BaseModel):
    """Whether a workflow definition can be saved, and every problem it has."""

    valid: bool
    problems: list[Problem]


class RunAccepted(BaseModel):
    """A queued run."""

    execution_id: str
    status: str = "queued"


def _saved(saved: SavedVersion) -> WorkflowSaved:
    return WorkflowSaved(
        id=saved.workflow_id,
        name=saved.name,
        version=saved.version,
        created=saved.created,
        plugin_versions=saved.plugin_versions,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WorkflowSaved)
async def create_workflow(workflow: Workflow, access: Editor, server: Server) -> WorkflowSaved:
    """Create a workflow (version 1). Its name must be new in the workspace."""
    try:
        await server.app.workflows.get(workflow.name, workspace_id=access.workspace_id)
    except SynthralError:
        pass
    else:
        raise Conflict(
            f"a workflow named {workflow.name!r} exists; update it with PUT /workflows/{{id}}",
            details={"name": workflow.name},
        )
    saved = await server.app.workflows.save(
        workflow, workspace_id=access.workspace_id, owner_id=access.principal.user_id
    )
    return _saved(saved)


@router.post("/validate", response_model=Validation)
async def validate_workflow(request: Request, access: Viewer, server: Server) -> Validation:
    """Check a workflow definition (the body POST /workflows takes) without saving it: 200 even when invalid."""
    del access
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InputInvalid(
            f"the body is not JSON ({exc}); send the workflow definition as a JSON object",
            details={"field": "body"},
        ) from None
    issues = server.app.workflows.check(data, source="the request body")
    problems = [
        Problem(
            node_id=issue.node,
            pointer=issue.pointer,
            message=issue.message,
            code=issue.code,
            severity=issue.severity,
        )
        for issue in issues
    ]
    return Validation(valid=not problems, problems=problems)


@router.get("", response_model=Page[WorkflowSummary])
async def list_workflows(access: Viewer, server: Server, limit: Limit = 50, cursor: Cursor = None) -> Page[Any]:
    """The workspace's workflows, by name."""
    rows = await server.app.workflows.list_workflows(
        workspace_id=access.workspace_id, limit=limit, after=text_cursor(cursor)
    )
    runs = await last_runs(server.app.database, [row["id"] for row in rows])
    rows = [{**row, "last_run": runs.get(row["id"])} for row in rows]
    return Page(items=rows, next_cursor=encode_cursor(rows[-1]["name"]) if len(rows) == limit else None)


@router.get("/{workflow_id}", response_model=WorkflowDetail)
async def get_workflow(
    workflow_id: str, access: Viewer, server: Server, version: Annotated[int | None, Query(ge=1)] = None
) -> WorkflowDetail:
    """A workflow's latest version (or ``version``), with its graph."""
    saved = await server.app.workflows.get(workflow_id, version, workspace_id=access.workspace_id)
    return WorkflowDetail(**_saved(saved).model_dump(), workflow=saved.workflow)


@router.put("/{workflow_id}", response_model=WorkflowSaved)
async def update_workflow(workflow_id: str, workflow: Workflow, access: Editor, server: Server) -> WorkflowSaved:
    """Save a new version of a workflow (no new version if the graph is unchanged)."""
    current = await server.app.workflows.get(workflow_id, workspace_id=access.workspace_id)
    if workflow.name != current.name:
        raise InputInvalid(
            f"the body names workflow {workflow.name!r} but the URL names {current.name!r}; a workflow keeps its name",
            details={"name": workflow.name},
        )
    saved = await server.app.workflows.save(
        workflow, workspace_id=access.workspace_id, owner_id=access.principal.user_id
    )
    return _saved(saved)


@router.delete("/{workflow_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workflow(workflow_id: str, request: Request, access: Editor, server: Server) -> Response:
    """Delete a workflow with its versions, schedules and finished runs."""
    await server.app.workflows.delete(workflow_id, workspace_id=access.workspace_id)
    await audit(request, access, "workflow.delete", target_type="workflow", target_id=workflow_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{workflow_id}/versions", response_model=Page[VersionSummary])
async def list_versions(workflow_id: str, access: Viewer, server: Server) -> dict[str, Any]:
    """Every version, newest first, in one page."""
    return {"items": await server.app.workflows.versions(workflow_id, workspace_id=access.workspace_id),
            "next_cursor": None}  # fmt: skip


@router.post("/{workflow_id}/run", status_code=status.HTTP_202_ACCEPTED, response_model=RunAccepted)
async def run_workflow(workflow_id: str, request: RunRequest, access: Editor, server: Server) -> RunAccepted:
    """Queue a run; it starts as soon as a worker is free. Follow it at /executions/{id} or the WebSocket."""
    execution_id = await server.app.workflows.start(
        workflow_id, request.trigger_data, version=request.version, workspace_id=access.workspace_id
    )
    return RunAccepted(execution_id=execution_id)


@router.get("/{workflow_id}/executions")
async def workflow_executions(
    workflow_id: str,
    access: Viewer,
    server: Server,
    limit: Limit = 50,
    cursor: Cursor = None,
    status_filter: StatusFilter = None,
) -> Page[dict[str, Any]]:
    """A workflow's executions, newest first."""
    return await executions_page(server, access.workspace_id, workflow_id, status_filter, limit, cursor)
