"""Sandboxed code: run it, register tools, list them; sandboxes and the daily CPU quota."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from synthral.api.access import Editor, Owner, Viewer
from synthral.api.pagination import Cursor, Limit, Page, encode_cursor, text_cursor
from synthral.api.state import ServerState, server_of
from synthral.services.code import CodeOutcome, CodeRun, CodeService, SandboxDefinition, ToolDefinition, ToolVersion
from synthral_sdk import BlobRef, CodeError

__all__ = ["router"]

router = APIRouter(prefix="/code", tags=["code"])
Server = Annotated[ServerState, Depends(server_of)]


class ExecuteRequest(CodeRun):
    """Code to run (``code``), or a registered tool to run (``tool``, with ``inputs``)."""

    code: str = Field(default="", max_length=1_000_000, description="The snippet; empty when 'tool' is set.")
    tool: str | None = Field(default=None, description="Run this registered tool instead of 'code'.")
    version: int | None = Field(default=None, ge=1, description="The tool's version; the latest when unset.")

    @model_validator(mode="after")
    def _one_of(self) -> ExecuteRequest:
        if bool(self.code) == bool(self.tool):
            raise ValueError("send either 'code' (a snippet) or 'tool' (a registered tool's name), not both or neither")
        return self


class ExecuteResult(BaseModel):
    """How the run went: the code's result and output, or its error, or the limit that stopped it."""

    id: str = Field(description="The run's record.")
    runtime: str
    ok: bool
    exit_code: int
    result: JsonValue = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    error: CodeError | None = None
    limit: str | None = None
    duration_ms: float
    cpu_s: float
    files: list[BlobRef] = Field(default_factory=list)


class ToolInfo(ToolVersion):
    """A registered tool version."""


class QuotaInfo(BaseModel):
    """The workspace's CPU seconds of code today."""

    used: float
    limit: float
    remaining: float
    resets_at: datetime


class QuotaWrite(BaseModel):
    """A new daily budget."""

    model_config = ConfigDict(extra="forbid")

    cpu_seconds_per_day: float = Field(ge=0, le=86400 * 64, description="CPU seconds of code per UTC day.")


class SandboxInfo(SandboxDefinition):
    """A named sandbox."""

    name: str


def _code(server: ServerState) -> CodeService:
    return server.app.code_service()


def _result(outcome: CodeOutcome) -> ExecuteResult:
    result = outcome.result
    return ExecuteResult(
        id=outcome.execution_id,
        runtime=outcome.runtime,
        ok=result.ok,
        exit_code=result.exit_code,
        result=result.result,
        stdout=result.stdout,
        stderr=result.stderr,
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        error=result.error,
        limit=result.limit,
        duration_ms=result.duration_ms,
        cpu_s=result.cpu_s,
        files=result.files,
    )


@router.post("/execute", response_model=ExecuteResult)
async def execute(body: ExecuteRequest, access: Editor, server: Server) -> ExecuteResult:
    """Run code (or a tool) in a sandbox and wait for it. A failing snippet is a 200 with its ``error``."""
    service = _code(server)
    if body.tool:
        outcome = await service.run_tool(
            access.workspace_id, body.tool, body.inputs, version=body.version, user_id=access.principal.user_id
        )
    else:
        run = CodeRun.model_validate(body.model_dump(exclude={"tool", "version"}))
        outcome = await service.execute(run, workspace_id=access.workspace_id, user_id=access.principal.user_id)
    return _result(outcome)


@router.get("/runs/{run_id}")
async def get_run(run_id: str, access: Viewer, server: Server) -> dict[str, Any]:
    """One run's record: status, exit code, limit, error, the first 16 KiB of output, CPU seconds."""
    return await _code(server).record(access.workspace_id, run_id)


@router.post("/register-tool", status_code=status.HTTP_201_CREATED, response_model=ToolInfo)
async def register_tool(body: ToolDefinition, access: Editor, server: Server) -> ToolVersion:
    """Save a snippet as the next version of the tool of its name (version 1 for a new name)."""
    return await _code(server).register_tool(access.workspace_id, body, user_id=access.principal.user_id)


@router.get("/tools", response_model=Page[ToolInfo])
async def list_tools(
    access: Viewer,
    server: Server,
    name: Annotated[str | None, Query(max_length=64, description="Every version of this tool, newest first.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[Any]:
    """The latest version of every tool, by name; with ``name``, every version of that tool."""
    tools = await _code(server).tools(access.workspace_id, name)
    if name is None:
        after = text_cursor(cursor)
        tools = [tool for tool in tools if after is None or tool.name > after][:limit]
        following = encode_cursor(tools[-1].name) if len(tools) == limit else None
    else:
        tools, following = tools[:limit], None
    return Page(items=tools, next_cursor=following)


@router.get("/quota", response_model=QuotaInfo)
async def get_quota(access: Viewer, server: Server) -> QuotaInfo:
    """CPU seconds of code the workspace used today, of how many."""
    usage = await _code(server).usage(access.workspace_id)
    return QuotaInfo(used=usage.used, limit=usage.limit, remaining=usage.remaining, resets_at=usage.resets_at)


@router.put("/quota", response_model=QuotaInfo)
async def put_quota(body: QuotaWrite, access: Owner, server: Server) -> QuotaInfo:
    """Set the workspace's daily CPU budget for code (owners)."""
    usage = await _code(server).set_quota(access.workspace_id, body.cpu_seconds_per_day)
    return QuotaInfo(used=usage.used, limit=usage.limit, remaining=usage.remaining, resets_at=usage.resets_at)


@router.get("/sandboxes", response_model=Page[SandboxInfo])
async def list_sandboxes(access: Viewer, server: Server) -> Page[SandboxInfo]:
    """The workspace's named sandboxes, in one page."""
    found = await _code(server).sandboxes(access.workspace_id)
    return Page(items=[SandboxInfo(name=name, **definition.model_dump()) for name, definition in found])


@router.put("/sandboxes/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def put_sandbox(name: str, body: SandboxDefinition, access: Owner, server: Server) -> Response:
    """Create or replace a named sandbox: runtime, config, limits, network, packages, credentials (owners)."""
    await _code(server).put_sandbox(access.workspace_id, name, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
