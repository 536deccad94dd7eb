"""MCP: choose the workflows a workspace exposes as tools, and serve them at ``/api/v1/mcp``.

The MCP endpoint speaks streamable HTTP (the official ``mcp`` package's session manager,
stateless, JSON answers). The gate has authenticated the request before any of it is read;
:class:`McpEndpoint` then resolves the workspace (an API key's own, or the ``X-Workspace``
header) and the caller's role there, and the tools act for exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from synthral import __version__
from synthral.api.access import WORKSPACE_HEADER, Editor, Viewer
from synthral.api.pagination import Page
from synthral.api.problems import problem
from synthral.api.state import ServerState, server_of
from synthral.services.accounts import Principal
from synthral.services.mcp_server import McpAccess, McpTools, build_server

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = ["McpEndpoint", "mount_mcp", "router"]

router = APIRouter(prefix="/mcp", tags=["mcp"])
Server = Annotated[ServerState, Depends(server_of)]


class ExposeRequest(BaseModel):
    """Which workflow a tool runs."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(min_length=1, max_length=200, description="The workflow's name or id.")
    description: str = Field(default="", max_length=2000, description="What the tool does, for MCP clients.")


def _tools(server: ServerState) -> McpTools:
    return McpTools(server.app.database, server.app.workflows)


@router.get("/tools", response_model=Page[dict[str, Any]])
async def list_tools(access: Viewer, server: Server) -> Page[dict[str, Any]]:
    """The workflows this workspace exposes as MCP tools, with their input schemas (one page)."""
    return Page(items=await _tools(server).tools(workspace_id=access.workspace_id))


@router.put("/tools/{tool_name}")
async def expose_tool(tool_name: str, request: ExposeRequest, access: Editor, server: Server) -> dict[str, Any]:
    """Expose a workflow as the tool ``tool_name`` (replacing what that workflow was exposed as)."""
    return await _tools(server).expose(
        request.workflow, workspace_id=access.workspace_id, tool_name=tool_name, description=request.description
    )


@router.delete("/tools/{tool_name}", status_code=status.HTTP_204_NO_CONTENT)
async def unexpose_tool(tool_name: str, access: Editor, server: Server) -> None:
    """Stop exposing a tool."""
    await _tools(server).unexpose(tool_name, workspace_id=access.workspace_id)


def _access_of(ctx: Any) -> McpAccess:
    request = getattr(ctx, "request", None)
    access = request.scope.get("state", {}).get("mcp_access") if request is not None else None
    if not isinstance(access, McpAccess):
        raise TypeError("an MCP request arrived without an access check")  # the endpoint always sets it
    return access


class McpEndpoint:
    """The ASGI app at ``/api/v1/mcp``: access check, then the MCP session manager.

    The MCP package and its session manager load with the first request, not with the server.
    """

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.manager: StreamableHTTPSessionManager | None = None
        self._started: asyncio.Event | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self, manager: StreamableHTTPSessionManager) -> None:
        async with manager.run():
            assert self._started is not None
            self._started.set()
            await self._stop.wait()

    async def _ensure_running(self) -> None:
        if self._started is None:
            from mcp.server.streamable_http_manager import StreamableHTTPSessionManager  # noqa: PLC0415 -- first use

            self.manager = StreamableHTTPSessionManager(
                build_server(_tools(self.server), _access_of, version=__version__), stateless=True, json_response=True
            )
            self._started = asyncio.Event()
            self._task = asyncio.create_task(self._run(self.manager))
        await self._started.wait()

    async def close(self) -> None:
        """Stop the session manager."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await self._task

    async def _access(self, scope: Scope) -> McpAccess | None:
        principal = scope.get("state", {}).get("principal")
        if not isinstance(principal, Principal):
            return None
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        wanted = headers.get(WORKSPACE_HEADER.lower())
        memberships = await self.server.identity.workspaces_of(principal.user_id)
        if principal.workspace_id is not None:  # an API key acts in its own workspace only
            memberships = [(row, role) for row, role in memberships if row.id == principal.workspace_id]
        for row, role in memberships:
            if (wanted is None and len(memberships) == 1) or wanted in (row.id, row.slug):
                return McpAccess(row.id, role)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check whom the request acts for, then let the session manager answer it."""
        access = await self._access(scope)
        if access is None:
            response = problem(
                404,
                f"no workspace for this key; use an API key of the workspace, or name it with {WORKSPACE_HEADER}",
                code="not_found",
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["mcp_access"] = access
        await self._ensure_running()
        assert self.manager is not None  # made with the first request
        await self.manager.handle_request(scope, receive, send)


def mount_mcp(app: FastAPI, server: ServerState, prefix: str) -> McpEndpoint:
    """Serve MCP at ``<prefix>/mcp``."""
    endpoint = McpEndpoint(server)
    # A Route whose endpoint is not a function is served as an ASGI app (Starlette's rule).
    app.router.routes.append(
        Route(f"{prefix}/mcp", endpoint, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    )
    return endpoint
