"""The code of a mounted MCP server's plugin: its tools as nodes, over the official ``mcp`` client.

The host never imports this module. ``synthral plugin install mcp:NAME ...`` copies it into
a generated plugin (with the mount's ``mount.json``) that is installed into its own venv
like any wheel; it needs only ``synthral-sdk``, ``mcp`` and ``jsonschema`` there.

At start the plugin connects to the server (a stdio command, a console script of a PyPI
package installed in the same venv, or a streamable HTTP URL), checks that the server is
the version pinned at mount time, and offers one node per tool, with the tool's JSON Schema
as the node's input schema. A call runs the tool on the open session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from synthral_sdk import Context, NoConfig, Node
from synthral_sdk.errors import InputInvalid, NonRetryableError, PluginLoadError, RetryableError

__all__ = ["Bridge", "tools_digest"]

T = TypeVar("T")
_NAME = re.compile(r"[^a-z0-9_.-]")
START_TIMEOUT = 60.0


def tools_digest(tools: list[dict[str, Any]]) -> str:
    """A digest of the tools' names and schemas: the shape that was pinned."""
    shape = sorted((t["name"], json.dumps(t.get("inputSchema") or {}, sort_keys=True)) for t in tools)
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


class Bridge:
    """One MCP client session, on its own event loop thread, for the plugin's lifetime."""

    def __init__(self, mount: dict[str, Any]) -> None:
        self.mount = mount
        self.tools: list[dict[str, Any]] = []
        self.server_version = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-bridge", daemon=True)
        self._session: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self) -> None:
        """Connect, list the tools, check the pin.

        Raises:
            PluginLoadError: The server does not start, or is not the pinned version.
        """
        self._thread.start()
        try:
            self._run(self._connect(), START_TIMEOUT)
        except PluginLoadError:
            raise
        except Exception as exc:
            raise PluginLoadError(
                f"MCP server {self.mount['name']!r} did not start: {type(exc).__name__}: {exc}; "
                "check its command or URL"
            ) from exc
        pinned = self.mount.get("server_version")
        if pinned and self.server_version != pinned:
            raise PluginLoadError(
                f"MCP server {self.mount['name']!r} reports version {self.server_version!r} but {pinned!r} was pinned "
                f"when it was mounted; mount it again to accept it: synthral plugin install mcp:{self.mount['name']} "
                "--reinstall ..."
            )

    async def _connect(self) -> None:
        from mcp import ClientSession, StdioServerParameters  # noqa: PLC0415 -- only in the plugin's venv
        from mcp.client.stdio import stdio_client  # noqa: PLC0415
        from mcp.client.streamable_http import streamable_http_client  # noqa: PLC0415

        self._stack = contextlib.AsyncExitStack()
        if self.mount.get("url"):
            read, write = await self._stack.enter_async_context(streamable_http_client(self.mount["url"]))
        else:
            command = list(self.mount["command"])
            script = Path(sys.executable).parent / command[0]
            if self.mount.get("package") and script.exists():
                command[0] = str(script)  # the package's console script, in this venv
            environment = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ", "TMPDIR") if k in os.environ}
            params = StdioServerParameters(command=command[0], args=command[1:], env=environment)
            read, write = await self._stack.enter_async_context(stdio_client(params))
        self._session = await self._stack.enter_async_context(ClientSession(read, write))
        answer = await self._session.initialize()
        self.server_version = str(answer.server_info.version or "")
        cursor = None
        while True:
            page = await self._session.list_tools(params={"cursor": cursor} if cursor else None)
            self.tools.extend(tool.model_dump(mode="json", by_alias=True) for tool in page.tools)
            cursor = page.next_cursor
            if not cursor:
                break

    def call(self, name: str, arguments: dict[str, Any], timeout: float | None) -> Any:
        """Run a tool on the session and return its result."""
        return self._run(self._session.call_tool(name, arguments), timeout)

    def stop(self) -> None:
        """Close the session and the server."""
        if self._stack is not None:
            with contextlib.suppress(Exception):
                self._run(self._stack.aclose(), 10)
        self._loop.call_soon_threadsafe(self._loop.stop)


class ToolResult(BaseModel):
    """What an MCP tool answered."""

    text: str = Field(description="The text parts of the answer, joined.")
    structured: JsonValue = Field(default=None, description="The tool's structured content, when it gives one.")
    content: list[dict[str, JsonValue]] = Field(default_factory=list, description="Every content part, as MCP sent it.")


class _Arguments(BaseModel):
    """Any object; checked against the tool's own JSON Schema."""

    model_config = ConfigDict(extra="allow")
    tool_schema: ClassVar[dict[str, Any]] = {}

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The tool's schema, as the MCP server declared it."""
        del args, kwargs
        return dict(cls.tool_schema)

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        try:
            import jsonschema  # noqa: PLC0415 -- the plugin venv's

            jsonschema.validate(data, cls.tool_schema)
        except ImportError:
            return data
        except jsonschema.ValidationError as exc:
            path = ".".join(str(p) for p in exc.absolute_path) or "(input)"
            raise ValueError(f"{path}: {exc.message}") from None
        return data


def tool_node(tool: dict[str, Any], bridge: Bridge) -> Node[Any, Any, Any]:
    """A node class for one tool, instantiated."""
    schema = tool.get("inputSchema") or {"type": "object"}
    arguments = type(f"{tool['name']}_arguments", (_Arguments,), {"tool_schema": schema})

    def run(self: Node[Any, Any, Any], inputs: BaseModel, config: NoConfig, context: Context) -> ToolResult:
        del self, config
        try:
            result = bridge.call(tool["name"], inputs.model_dump(), context.time_remaining())
        except TimeoutError:
            raise RetryableError(f"MCP tool {tool['name']!r} did not answer in time") from None
        except Exception as exc:
            raise RetryableError(f"MCP tool {tool['name']!r} failed: {type(exc).__name__}: {exc}") from exc
        parts = [part.model_dump(mode="json", by_alias=True) for part in result.content]
        text = "\n".join(str(p.get("text")) for p in parts if p.get("type") == "text")
        if result.is_error:
            raise NonRetryableError(f"MCP tool {tool['name']!r} answered an error: {text[:1000]}")
        return ToolResult(text=text, structured=result.structured_content, content=parts)

    name = _NAME.sub("_", str(tool["name"]).lower())[:64]
    if not name or not name[0].isalpha():
        raise InputInvalid(f"MCP tool name {tool['name']!r} cannot be a capability name")
    node_class = type(
        f"McpTool_{name}",
        (Node,),
        {
            "name": name,
            "title": tool.get("title") or tool["name"],
            "description": tool.get("description") or "",
            "input_model": arguments,
            "output_model": ToolResult,
            "config_model": NoConfig,
            "run": run,
        },
    )
    return node_class()  # type: ignore[no-any-return]
