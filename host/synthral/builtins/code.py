"""The ``code`` nodes: run a snippet (``code/run``) or a registered tool (``code/tool``) in a sandbox.

They run in the host process like the core nodes, but each is bound to the host's
:class:`~synthral.services.code.CodeService`, which picks the runtime plugin, charges the
workspace's CPU budget and records the run. Their input is free-form: every field, rendered
from templates, is one of the code's ``inputs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from synthral.errors import CodeFailed, InputInvalid
from synthral.services.code import DEFAULT_RUNTIME, CodeOutcome, CodeRun, Limits, check_schema, validate_against
from synthral_sdk import BlobRef, CodeError, Context, Node, hookimpl

if TYPE_CHECKING:
    from synthral.services.code import CodeService

__all__ = ["CodeNodes"]


class CodeInputs(BaseModel):
    """The code's inputs: any fields, usually templates such as ``{{ nodes.fetch.output.body }}``."""

    model_config = ConfigDict(extra="allow")


class CodeOutput(BaseModel):
    """What the code did."""

    result: JsonValue = Field(default=None, description="The code's result (Python: 'result'; JavaScript: return).")
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    error: CodeError | None = None
    limit: str | None = None
    duration_ms: float = 0.0
    cpu_s: float = 0.0
    files: list[BlobRef] = Field(default_factory=list)
    runtime: str = ""
    run_id: str = Field(default="", description="The run's record (GET /api/v1/code/runs/{id}).")


class RunCodeConfig(Limits):
    """A snippet and where to run it."""

    language: str = Field(default="python", description="'python', or 'javascript' on runtimes with Node.js.")
    code: str = Field(min_length=1, description="Python: read 'inputs', set 'result'. JavaScript: return it.")
    runtime: str | None = Field(default=None, description=f"A code runtime, 'plugin/capability'; {DEFAULT_RUNTIME}.")
    sandbox: str | None = Field(default=None, description="A named sandbox of the workspace.")
    output_schema: dict[str, JsonValue] | None = Field(default=None, description="JSON Schema the result must meet.")
    network: list[str] | None = None
    packages: list[str] | None = None
    fail_on_error: bool = Field(default=True, description="Fail the step when the code raises or hits a limit.")

    @field_validator("output_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                check_schema(value, "output_schema")
            except InputInvalid as exc:
                raise ValueError(exc.message) from None
        return value


class RunToolConfig(BaseModel):
    """Which tool to run."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(description="The tool's name (GET /api/v1/code/tools lists them).")
    version: int | None = Field(default=None, ge=1, description="A version; the latest when unset.")
    fail_on_error: bool = True


def _output(outcome: CodeOutcome) -> CodeOutput:
    result = outcome.result
    return CodeOutput(
        result=result.result,
        stdout=result.stdout,
        stderr=result.stderr,
        exit_code=result.exit_code,
        error=result.error,
        limit=result.limit,
        duration_ms=result.duration_ms,
        cpu_s=result.cpu_s,
        files=result.files,
        runtime=outcome.runtime,
        run_id=outcome.execution_id,
    )


def _raise_if_failed(outcome: CodeOutcome, what: str) -> None:
    result = outcome.result
    if result.ok:
        return
    if result.limit is not None:
        reason = f"stopped at its {result.limit} limit"
    elif result.error is not None:
        reason = f"raised {result.error.type}: {result.error.message}"
    else:
        reason = f"exited with status {result.exit_code}"
    raise CodeFailed(
        f"{what} {reason}" + (f" (line {result.error.line})" if result.error and result.error.line else ""),
        details={
            "run_id": outcome.execution_id,
            "runtime": outcome.runtime,
            "limit": result.limit,
            "error": result.error.model_dump() if result.error else None,
            "stdout": result.stdout[-2000:],
            "stderr": result.stderr[-2000:],
        },
    )


class RunCode(Node[CodeInputs, CodeOutput, RunCodeConfig]):
    """Run a Python or JavaScript snippet in a sandbox with the node's input as ``inputs``."""

    name = "run"
    title = "Code"
    category = "Code"
    icon = "code"

    def __init__(self, service: CodeService) -> None:
        self.service = service

    async def run(self, inputs: CodeInputs, config: RunCodeConfig, context: Context) -> CodeOutput:
        workspace = await self.service.workspace_of(context.execution_id)
        run = CodeRun(
            inputs=inputs.model_dump(mode="json"),
            **config.model_dump(exclude={"output_schema", "fail_on_error"}),
        )
        outcome = await self.service.execute(
            run,
            workspace_id=workspace,
            secrets=dict(context.secrets),
            workflow_execution_id=context.execution_id,
            node_id=context.node_id,
        )
        if config.fail_on_error:
            _raise_if_failed(outcome, "the code")
        if outcome.result.ok and config.output_schema is not None:
            try:
                validate_against(outcome.result.result, config.output_schema, "the code's result")
            except InputInvalid as exc:
                raise CodeFailed(exc.message, details={"run_id": outcome.execution_id}) from None
        return _output(outcome)


class RunTool(Node[CodeInputs, CodeOutput, RunToolConfig]):
    """Run a registered tool with the node's input as its typed inputs."""

    name = "tool"
    title = "Code tool"
    category = "Code"
    icon = "wrench"

    def __init__(self, service: CodeService) -> None:
        self.service = service

    async def run(self, inputs: CodeInputs, config: RunToolConfig, context: Context) -> CodeOutput:
        workspace = await self.service.workspace_of(context.execution_id)
        outcome = await self.service.run_tool(
            workspace,
            config.tool,
            inputs.model_dump(mode="json"),
            version=config.version,
            secrets=dict(context.secrets),
            workflow_execution_id=context.execution_id,
            node_id=context.node_id,
        )
        if config.fail_on_error:
            _raise_if_failed(outcome, f"tool {config.tool}")
        return _output(outcome)


class CodeNodes:
    """The ``code`` plugin: the two nodes, bound to one code service."""

    def __init__(self, service: CodeService) -> None:
        self.nodes: list[Node[Any, Any, Any]] = [RunCode(service), RunTool(service)]

    @hookimpl
    def synthral_nodes(self) -> list[Node[Any, Any, Any]]:
        """The code nodes."""
        return self.nodes
