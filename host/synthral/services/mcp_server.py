"""Workflows as MCP tools: which are exposed, and the MCP server that lists and runs them.

A workspace chooses workflows to expose (``mcp_tool`` rows: tool name, description). The
server built by :func:`build_server` (the official ``mcp`` package's low-level server) lists
them with their manual trigger's input schema and runs one per ``tools/call``: the arguments
are checked against the schema, a run is queued and waited for, its output comes back as
the tool's structured content. Every call acts for one :class:`McpAccess`: a workspace and
a role (a viewer may list, an editor may run). ``synthral mcp serve`` serves it on stdio for
local workflows; ``/api/v1/mcp`` serves it over streamable HTTP for an API key's workspace.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import jsonschema
import orjson
from sqlalchemy import delete, insert, select

from synthral.engine.model import ManualTrigger
from synthral.errors import Conflict, Forbidden, InputInvalid, NotFound
from synthral.services.workflows import WorkflowService
from synthral.store.ai_tables import MCP_TOOL
from synthral.store.db import Database
from synthral.store.tables import WORKFLOW, ExecutionStatus, Role, utcnow

if TYPE_CHECKING:
    import mcp_types as types
    from mcp.server.lowlevel import Server

__all__ = ["McpAccess", "McpTools", "build_server"]

TOOL_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_RANK: Final = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}
CALL_TIMEOUT: Final = 300.0
_POLL: Final = 0.1


@dataclass(frozen=True)
class McpAccess:
    """Who an MCP connection acts for: a workspace (None: local workflows) and a role."""

    workspace_id: str | None
    role: str

    def allows(self, role: str) -> bool:
        """Whether this role is ``role`` or above."""
        return _RANK.get(self.role, 0) >= _RANK[role]


class McpTools:
    """The workflows a workspace exposes as MCP tools, and running them."""

    def __init__(self, database: Database, workflows: WorkflowService) -> None:
        self.database = database
        self.workflows = workflows

    def _scope(self, workspace_id: str | None) -> Any:
        return MCP_TOOL.c.workspace_id.is_(None) if workspace_id is None else MCP_TOOL.c.workspace_id == workspace_id

    async def expose(
        self, workflow: str, *, workspace_id: str | None, tool_name: str | None = None, description: str = ""
    ) -> dict[str, Any]:
        """Expose a workflow as a tool (its name by default).

        Raises:
            InputInvalid: The tool name is not one MCP clients accept.
            Conflict: Another workflow is exposed under that name.
            NotFound: No such workflow in the workspace.
        """
        saved = await self.workflows.get(workflow, workspace_id=workspace_id)
        name = tool_name or re.sub(r"[^A-Za-z0-9_.-]", "_", saved.name)[:64]
        if not TOOL_NAME.fullmatch(name):
            raise InputInvalid(
                f"tool name {name!r} must start with a letter and hold at most 64 letters, digits, '_', '.' or '-'"
            )
        async with self.database.transaction() as connection:
            taken = (
                await connection.execute(
                    select(MCP_TOOL.c.workflow_id).where(self._scope(workspace_id), MCP_TOOL.c.tool_name == name)
                )
            ).first()
            if taken is not None and taken[0] != saved.workflow_id:
                raise Conflict(f"another workflow is exposed as {name!r}; choose another tool name")
            await connection.execute(
                delete(MCP_TOOL).where(self._scope(workspace_id), MCP_TOOL.c.workflow_id == saved.workflow_id)
            )
            await connection.execute(
                insert(MCP_TOOL),
                {"id": str(uuid.uuid4()), "workspace_id": workspace_id, "workflow_id": saved.workflow_id,
                 "tool_name": name, "description": description or saved.workflow.description,
                 "created_at": utcnow()},
            )  # fmt: skip
        return {"tool": name, "workflow": saved.name, "description": description or saved.workflow.description}

    async def unexpose(self, tool_name: str, *, workspace_id: str | None) -> None:
        """Stop exposing a tool.

        Raises:
            NotFound: No tool of that name.
        """
        async with self.database.transaction() as connection:
            result = await connection.execute(
                delete(MCP_TOOL).where(self._scope(workspace_id), MCP_TOOL.c.tool_name == tool_name)
            )
        if result.rowcount == 0:
            raise NotFound(f"no MCP tool {tool_name!r} is exposed here", details={"tool": tool_name})

    async def tools(self, *, workspace_id: str | None) -> list[dict[str, Any]]:
        """The exposed tools with their input schemas."""
        async with self.database.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(MCP_TOOL.c.tool_name, MCP_TOOL.c.description, MCP_TOOL.c.workflow_id, WORKFLOW.c.name)
                    .join(WORKFLOW, WORKFLOW.c.id == MCP_TOOL.c.workflow_id)
                    .where(self._scope(workspace_id))
                    .order_by(MCP_TOOL.c.tool_name)
                )
            ).all()
        found = []
        for name, description, workflow_id, workflow in rows:
            schema = await self.schema(workflow_id, workspace_id)
            found.append({"tool": name, "description": description, "workflow": workflow, "input_schema": schema})
        return found

    async def schema(self, workflow_id: str, workspace_id: str | None) -> dict[str, Any]:
        """The tool's input schema: the workflow's manual trigger's, else any object."""
        saved = await self.workflows.get(workflow_id, workspace_id=workspace_id)
        for trigger in saved.workflow.triggers:
            if isinstance(trigger, ManualTrigger) and trigger.input_schema is not None:
                return dict(trigger.input_schema)
        return {"type": "object", "additionalProperties": True}

    async def call(self, tool_name: str, arguments: dict[str, Any], access: McpAccess) -> tuple[bool, Any]:
        """Run the tool's workflow with ``arguments`` and wait; return (ok, output or error).

        Raises:
            Forbidden: The role may not run workflows.
            NotFound: No such tool.
            InputInvalid: The arguments miss the input schema.
        """
        if not access.allows(Role.EDITOR):
            raise Forbidden(f"running tools needs the editor role in the workspace; this key is {access.role}")
        async with self.database.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(MCP_TOOL.c.workflow_id).where(
                        self._scope(access.workspace_id), MCP_TOOL.c.tool_name == tool_name
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"no tool {tool_name!r} is exposed here; list the tools to see which are")
        schema = await self.schema(row[0], access.workspace_id)
        try:
            jsonschema.validate(arguments, schema)
        except jsonschema.ValidationError as exc:
            path = ".".join(str(p) for p in exc.absolute_path) or "(arguments)"
            raise InputInvalid(f"argument '{path}': {exc.message}", details={"field": path}) from None
        execution_id = await self.workflows.start(row[0], arguments, trigger="mcp", workspace_id=access.workspace_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CALL_TIMEOUT
        while True:
            view = await self.workflows.execution(execution_id, workspace_id=access.workspace_id)
            if view.status in ExecutionStatus.TERMINAL:
                break
            if loop.time() > deadline:
                return False, f"the run {execution_id} did not finish within {CALL_TIMEOUT:g} s; it goes on"
            await asyncio.sleep(_POLL)
        if view.status != ExecutionStatus.COMPLETED:
            return False, f"the run {execution_id} ended {view.status}: {view.execution.get('error_message') or ''}"
        return True, {"execution_id": execution_id, "output": view.execution.get("output")}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def build_server(tools: McpTools, access_of: Any, *, version: str) -> Server[Any]:
    """The MCP server over ``tools``; ``access_of(ctx)`` says whom a request acts for."""
    import mcp_types as types  # noqa: PLC0415 -- the MCP package loads when the endpoint is first used
    from mcp.server.lowlevel import Server as LowLevelServer  # noqa: PLC0415

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        access: McpAccess = access_of(ctx)
        listed = await tools.tools(workspace_id=access.workspace_id)
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t["tool"], description=t["description"] or f"Run the workflow {t['workflow']!r}.",
                           inputSchema=t["input_schema"])
                for t in listed
            ]
        )  # fmt: skip

    async def call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        access = access_of(ctx)
        arguments = dict(params.arguments or {})
        try:
            ok, value = await tools.call(params.name, arguments, access)
        except (Forbidden, NotFound, InputInvalid) as exc:
            return types.CallToolResult(content=[types.TextContent(type="text", text=exc.message)], isError=True)
        structured = value if ok and isinstance(value, dict) else None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=_text(value))], structuredContent=structured, isError=not ok
        )

    return LowLevelServer(
        "synthral",
        version=version,
        instructions="SynthralOS workflows exposed as tools; each call runs the workflow and returns its output.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
