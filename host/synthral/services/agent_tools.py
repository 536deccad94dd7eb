"""The tools an agent is granted, and running them: the host's own capabilities, nothing else.

A grant names a node of an installed plugin (a mounted MCP server's tools are such nodes)
or a workflow of the same workspace. The model sees each as a function with the node's
input schema (or the workflow's trigger schema); the host checks every call against the
grants, runs it with the grant's config and secrets, and answers with the output or an
error the model can act on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from synthral.errors import ConfigurationError, SynthralError
from synthral.plugins.host import PluginHost
from synthral.services.agent_models import ToolGrant
from synthral.store.tables import ExecutionStatus
from synthral_sdk import CapabilityKind, ToolCall, ToolResult, ToolSpec
from synthral_sdk.types import JSONValue

__all__ = ["MAX_RESULT_BYTES", "ToolBox", "WorkflowRunner", "bounded"]

MAX_RESULT_BYTES: Final = 64 * 1024
"""A tool's output beyond this is cut before the model sees it (the task's log keeps it whole)."""
_POLL: Final = 0.2
_RUNNABLE: Final = frozenset({CapabilityKind.NODE, CapabilityKind.CONNECTOR})

SecretsFor = Callable[[list[str]], Awaitable[dict[str, str]]]


class WorkflowRunner:
    """What a workflow tool needs of the workflow service: a trigger schema, start a run, read it."""

    def __init__(
        self,
        schema: Callable[[str, str | None], Awaitable[dict[str, Any]]],
        start: Callable[[str, dict[str, Any], str, str | None], Awaitable[str]],
        status: Callable[[str, str | None], Awaitable[tuple[str, Any, str | None]]],
    ) -> None:
        self.schema = schema
        self.start = start
        self.status = status


@dataclass
class _Tool:
    grant: ToolGrant
    spec: ToolSpec
    operation: str | None = None


def _schema_of(handle: Any, operation: str | None) -> tuple[str, dict[str, Any], str]:
    spec = handle.spec()
    operations = spec.operations
    op = operation or (next(iter(operations)) if len(operations) == 1 else None)
    if op is None or op not in operations:
        raise ConfigurationError(
            f"{spec.name} has operations {', '.join(sorted(operations))}; set 'operation' in its tool grant"
        )
    return op, dict(operations[op].input_schema), operations[op].description or spec.description


class ToolBox:
    """The granted tools of one agent task.

    Args:
        plugins: Where node tools are resolved.
        grants: The agent's tool grants.
        secrets_for: Resolves the secrets a grant names (from the step's workspace).
        workflows: Runs workflow tools; None where workflows cannot be run.
        workspace_id: The task's workspace.
        scope: Identifies the task in idempotency keys and child run ids.
    """

    def __init__(
        self,
        plugins: PluginHost,
        grants: list[ToolGrant],
        *,
        secrets_for: SecretsFor,
        workflows: WorkflowRunner | None,
        workspace_id: str | None,
        scope: str,
    ) -> None:
        self.plugins = plugins
        self.grants = grants
        self.secrets_for = secrets_for
        self.workflows = workflows
        self.workspace_id = workspace_id
        self.scope = scope
        self._tools: dict[str, _Tool] = {}

    async def prepare(self) -> list[ToolSpec]:
        """Resolve every grant to a tool spec.

        Raises:
            ConfigurationError: A grant names a node that is not installed or not runnable, or
                a workflow that does not exist; the message names the grant.
        """
        for grant in self.grants:
            name = grant.tool_name
            try:
                if grant.node is not None:
                    handle = self.plugins.resolve(grant.node)
                    if handle.kind not in _RUNNABLE:
                        raise ConfigurationError(f"{grant.node} is a {handle.kind.value}, not a node an agent can call")
                    op, schema, description = _schema_of(handle, grant.operation)
                    self._tools[name] = _Tool(grant, ToolSpec(name=name, description=grant.description or description,
                                                              parameters=schema), op)  # fmt: skip
                else:
                    if self.workflows is None:
                        raise ConfigurationError("workflow tools need a running engine")
                    schema = await self.workflows.schema(str(grant.workflow), self.workspace_id)
                    description = grant.description or f"Run the workflow {grant.workflow!r} and return its output."
                    self._tools[name] = _Tool(grant, ToolSpec(name=name, description=description, parameters=schema))
            except SynthralError as exc:
                raise ConfigurationError(
                    f"tool grant {name!r}: {exc.message}", details={"tool": name, **exc.details}
                ) from None
        return [tool.spec for tool in self._tools.values()]

    def knows(self, name: str) -> bool:
        """Whether ``name`` is a granted tool."""
        return name in self._tools

    def denial(self, call: ToolCall) -> ToolResult:
        """The answer to a call of a tool that is not granted."""
        granted = ", ".join(sorted(self._tools)) or "none"
        return ToolResult(
            call_id=call.id,
            name=call.name,
            ok=False,
            error=f"tool {call.name!r} is not granted to this agent; the granted tools are: {granted}",
        )

    async def run(self, call: ToolCall, seq: int, timeout: float | None) -> ToolResult:
        """Run a granted tool; failures come back as ``ok`` false with the reason."""
        tool = self._tools[call.name]
        try:
            if tool.grant.node is not None:
                output = await self._run_node(tool, call.arguments, seq, timeout)
            else:
                output = await self._run_workflow(tool, call.arguments, seq, timeout)
        except SynthralError as exc:
            return ToolResult(call_id=call.id, name=call.name, ok=False, error=f"{exc.error_type}: {exc.message}")
        except TimeoutError:
            return ToolResult(call_id=call.id, name=call.name, ok=False, error=f"the tool took longer than {timeout} s")
        return ToolResult(call_id=call.id, name=call.name, output=output)

    async def _run_node(self, tool: _Tool, arguments: Mapping[str, Any], seq: int, timeout: float | None) -> Any:
        grant = tool.grant
        handle = self.plugins.resolve(str(grant.node))
        secrets = await self.secrets_for(grant.secrets) if grant.secrets else {}
        context = self.plugins.context(
            timeout=timeout, secrets=secrets, idempotency_key=f"{self.scope}/tool/{seq}", node_id=grant.tool_name
        )
        return await handle.call(str(tool.operation), grant.config, dict(arguments), context)

    async def _run_workflow(self, tool: _Tool, arguments: Mapping[str, Any], seq: int, timeout: float | None) -> Any:
        assert self.workflows is not None
        # The same call of a resumed task finds the run it started before, instead of starting another.
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthral:agent-tool:{self.scope}/{seq}"))
        await self.workflows.start(str(tool.grant.workflow), dict(arguments), run_id, self.workspace_id)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            status, output, error = await self.workflows.status(run_id, self.workspace_id)
            if status in ExecutionStatus.TERMINAL:
                if status != ExecutionStatus.COMPLETED:
                    raise ConfigurationError(f"the workflow run {run_id} ended {status}: {error or ''}")
                return output
            if deadline is not None and loop.time() > deadline:
                raise TimeoutError
            await asyncio.sleep(_POLL)


def bounded(output: Any) -> JSONValue:
    """``output``, cut to :data:`MAX_RESULT_BYTES` of JSON for a model."""
    data = orjson.dumps(output)
    if len(data) <= MAX_RESULT_BYTES:
        return output  # type: ignore[no-any-return]
    return {
        "truncated": True,
        "bytes": len(data),
        "head": data[:MAX_RESULT_BYTES].decode(errors="ignore"),
        "note": "the output was cut for the model; the task's log has it whole",
    }
