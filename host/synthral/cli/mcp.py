"""``synthral mcp``: expose workflows as MCP tools and serve them on stdio."""

from __future__ import annotations

import logging
from typing import Annotated, cast

import typer

from synthral.cli.common import console, err_console, print_json, run
from synthral_sdk.types import JSONValue

__all__ = ["app"]

app = typer.Typer(help="Workflows as MCP tools: choose them, and serve them to MCP clients.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command()
def expose(
    workflow: Annotated[str, typer.Argument(help="The workflow's name or id.")],
    name: Annotated[str | None, typer.Option("--name", help="The tool's name (default: the workflow's).")] = None,
    description: Annotated[str, typer.Option("--description", help="What the tool does, for clients.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Expose a local workflow as an MCP tool (its manual trigger's input_schema is the tool's input)."""
    from synthral.config import Settings
    from synthral.services.app import open_app
    from synthral.services.mcp_server import McpTools

    async def go() -> None:
        async with open_app(Settings.load()) as host:
            tool = await McpTools(host.database, host.workflows).expose(
                workflow, workspace_id=None, tool_name=name, description=description
            )
        if as_json:
            print_json(tool)
        else:
            console.print(f"[green]exposed[/] {tool['workflow']} as the MCP tool {tool['tool']}")

    run(go(), as_json=as_json)


@app.command()
def unexpose(name: Annotated[str, typer.Argument(help="The tool's name.")], as_json: JsonOpt = False) -> None:
    """Stop exposing a tool."""
    from synthral.config import Settings
    from synthral.services.app import open_app
    from synthral.services.mcp_server import McpTools

    async def go() -> None:
        async with open_app(Settings.load()) as host:
            await McpTools(host.database, host.workflows).unexpose(name, workspace_id=None)
        if not as_json:
            console.print(f"[green]removed[/] the MCP tool {name}")

    run(go(), as_json=as_json)


@app.command("tools")
def list_tools(as_json: JsonOpt = False) -> None:
    """The local workflows exposed as MCP tools."""
    from synthral.config import Settings
    from synthral.services.app import open_app
    from synthral.services.mcp_server import McpTools

    async def go() -> None:
        async with open_app(Settings.load()) as host:
            tools = await McpTools(host.database, host.workflows).tools(workspace_id=None)
        if as_json:
            print_json(cast(JSONValue, tools))
            return
        for tool in tools:
            console.print(f"{tool['tool']}  (workflow {tool['workflow']})  {tool['description']}")

    run(go(), as_json=as_json)


@app.command()
def serve(
    worker: Annotated[bool, typer.Option(help="Run a worker here too, so tool calls finish without another.")] = True,
) -> None:
    """Serve the exposed local workflows to an MCP client on stdin/stdout (as the machine's owner)."""
    from mcp.server.stdio import stdio_server

    from synthral import __version__
    from synthral.config import Settings
    from synthral.runtime import HostRuntime
    from synthral.services.mcp_server import McpAccess, McpTools, build_server
    from synthral.store.tables import Role

    logging.getLogger().handlers[:] = [logging.StreamHandler()]  # stdout belongs to the protocol

    async def go() -> None:
        async with HostRuntime(Settings.load(), worker=worker, concurrency=4, poll_interval=0.1) as runtime:
            host = runtime.app
            access = McpAccess(None, Role.OWNER)
            server = build_server(McpTools(host.database, host.workflows), lambda ctx: access, version=__version__)
            err_console.print("serving MCP on stdio")
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

    run(go(), as_json=False)
