"""Agents: run a task, read its status and steps, ask the router, list the installed frameworks.

Thin: the agent service routes, records and runs; a task started here is a durable run of
the workspace's ``agents.run`` workflow (see ``synthral.services.agent_tasks``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral.api.access import Editor, Viewer
from synthral.api.state import ServerState, server_of
from synthral.services.agent_models import AgentConfig, AgentInput, RoutingHints
from synthral.services.agent_tasks import start_agent_task

__all__ = ["router"]

router = APIRouter(prefix="/agents", tags=["agents"])
Server = Annotated[ServerState, Depends(server_of)]


class RunRequest(BaseModel):
    """An agent task: what to do and how (the ``agent/run`` node's config)."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=100_000, description="What the agent should achieve.")
    inputs: dict[str, JsonValue] = Field(default_factory=dict, description="Data the task is about.")
    config: AgentConfig


class EvaluateRequest(BaseModel):
    """The facts the router decides by."""

    model_config = ConfigDict(extra="forbid")

    routing: RoutingHints = Field(default_factory=RoutingHints)
    roles: int = Field(default=1, ge=1, le=100, description="Team members configured.")
    framework: str | None = Field(default=None, max_length=200, description="An explicit choice to check.")


@router.post("/run", status_code=status.HTTP_202_ACCEPTED)
async def run_agent(request: RunRequest, access: Editor, server: Server) -> dict[str, Any]:
    """Queue an agent task; poll ``/agents/status/{task_id}`` or watch its run on the WebSocket."""
    return await start_agent_task(
        server.app.ai.agents,
        server.app.workflows,
        workspace_id=access.workspace_id,
        owner_id=access.principal.user_id,
        config=request.config,
        task=AgentInput(task=request.task, inputs=request.inputs),
    )


@router.get("/status/{task_id}")
async def agent_status(task_id: str, access: Viewer, server: Server) -> dict[str, Any]:
    """A task: status, routing decision, usage, output and its latest steps."""
    task = await server.app.ai.agents.status(task_id, workspace_id=access.workspace_id)
    execution_id = task.get("execution_id")
    if isinstance(execution_id, str):
        view = await server.app.workflows.execution(execution_id, workspace_id=access.workspace_id)
        task["execution_status"] = view.status
        if task["status"] == "queued" and view.status in {"failed", "cancelled"}:
            task["status"] = view.status
            task["error_message"] = view.execution.get("error_message")
    return task


@router.post("/switch/evaluate")
async def evaluate_routing(request: EvaluateRequest, access: Viewer, server: Server) -> dict[str, Any]:
    """What the router would choose for these facts, and why; nothing runs."""
    del access
    config = AgentConfig.model_validate(
        {"llm": {"model": "unused"}, "routing": request.routing.model_dump(), "framework": request.framework,
         "roles": [{"name": f"member{i}"} for i in range(request.roles)] if request.roles > 1 else []}
    )  # fmt: skip
    return dict(server.app.ai.agents.evaluate(config).wire())


@router.get("/catalog")
async def agent_catalog(access: Viewer, server: Server) -> dict[str, Any]:
    """The installed agent frameworks with their styles, and the routing rules."""
    del access
    return {
        "frameworks": server.app.ai.agents.catalog(),
        "rules": [
            "agent_self_fix → self_fix (Archon-style)",
            "agent_roles > 1 → multi_role (MetaGPT, CrewAI, AutoGen)",
            "recursive_planning → recursive (AutoGPT/BabyAGI-style)",
            "agent_type = simple → simple (AgentGPT-style)",
            "agent_type = belief_goal → belief_goal (Agent0-style)",
            "otherwise → tool_calling (LangGraph first)",
            "user_prefers_copilot_ui → interface ag-ui (framework unchanged)",
        ],
    }
