"""Sandboxed code: run it on a runtime plugin, keep a record of each run, tools, sandboxes and quotas.

Every run goes through :meth:`CodeService.execute`: it picks the runtime (the request's, the
named sandbox's, or ``code-wasi/wasi``), merges the limits, charges the workspace's CPU
budget for the day, grants the runtime the credentials its sandbox names, calls the runtime
plugin, and records the run in ``code_execution``. The API, the ``code/run`` and
``code/tool`` workflow nodes and agents all come through here.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from jsonschema import Draft202012Validator, SchemaError
from jsonschema import ValidationError as SchemaViolation
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy import and_, func, insert, select, update

from synthral.config import LimitSettings
from synthral.errors import ConfigurationError, InputInvalid, NotFound, QuotaExceeded, SynthralError
from synthral.plugins.host import PluginHost
from synthral.services.blob_grants import BlobGrants
from synthral.services.secrets import CredentialService
from synthral.store.code_tables import CODE_EXECUTION, CODE_QUOTA, CODE_SANDBOX, CODE_TOOL
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, WORKFLOW, new_id, utcnow
from synthral_sdk import BlobRef, CodeError, CodeRequest, CodeResult, ToolSpec

__all__ = [
    "DEFAULT_RUNTIME",
    "CodeOutcome",
    "CodeRun",
    "CodeService",
    "SandboxDefinition",
    "ToolDefinition",
    "ToolVersion",
    "Usage",
]

DEFAULT_RUNTIME: Final = "code-wasi/wasi"
KEPT_OUTPUT: Final = 16 * 1024
TOOL_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")


class Limits(BaseModel):
    """Limits of a run; unset ones come from the sandbox, then the runtime's defaults."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float | None = Field(default=None, gt=0, le=3600)
    memory_mb: int | None = Field(default=None, ge=16, le=65536)
    cpu_s: float | None = Field(default=None, gt=0, le=3600)
    output_bytes: int | None = Field(default=None, ge=1024, le=64 * 1_048_576)
    max_processes: int | None = Field(default=None, ge=1, le=1024)


class CodeRun(Limits):
    """Code to run, with its inputs, where and within which limits."""

    language: str = Field(default="python", description="'python', or 'javascript' on runtimes with Node.js.")
    code: str = Field(min_length=1, max_length=1_000_000)
    inputs: dict[str, JsonValue] = Field(default_factory=dict, description="What the code reads as 'inputs'.")
    runtime: str | None = Field(default=None, description=f"A code runtime, 'plugin/capability'; {DEFAULT_RUNTIME}.")
    sandbox: str | None = Field(default=None, description="A named sandbox of the workspace (runtime, limits, grants).")
    network: list[str] | None = Field(default=None, description="Hosts the code may reach (runtimes with a proxy).")
    packages: list[str] | None = Field(default=None, description="Packages to make importable.")
    files: list[BlobRef] = Field(default_factory=list, description="Files placed in the run's scratch folder.")


class SandboxDefinition(Limits):
    """A named sandbox: a runtime with its config, default limits, network, packages and credentials."""

    runtime: str = Field(default=DEFAULT_RUNTIME, description="The code runtime, 'plugin/capability'.")
    config: dict[str, JsonValue] = Field(default_factory=dict, description="The runtime's config (no secrets).")
    network: list[str] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list)
    secrets: dict[str, str] = Field(
        default_factory=dict[str, str],
        description="Runtime secret slot → workspace credential, e.g. {'api_key': 'e2b'}.",
    )


def _object_schema() -> dict[str, JsonValue]:
    return {"type": "object"}


class ToolDefinition(Limits):
    """A snippet to save as the next version of a tool."""

    name: str = Field(description="Lowercase letters, digits and '_', starting with a letter.")
    description: str = Field(default="", max_length=2000)
    language: str = "python"
    code: str = Field(min_length=1, max_length=1_000_000)
    input_schema: dict[str, JsonValue] = Field(
        default_factory=_object_schema, description="JSON Schema the inputs must satisfy."
    )
    output_schema: dict[str, JsonValue] | None = Field(default=None, description="JSON Schema the result must satisfy.")
    runtime: str | None = None
    sandbox: str | None = None


class ToolVersion(ToolDefinition):
    """A registered tool version."""

    id: str
    version: int
    created_at: datetime
    created_by: str | None = None


@dataclass(frozen=True)
class CodeOutcome:
    """A finished run: its record's id, where it ran, what it did."""

    execution_id: str
    runtime: str
    result: CodeResult


@dataclass(frozen=True)
class Usage:
    """A workspace's CPU seconds of code today, and its budget."""

    used: float
    limit: float
    resets_at: datetime

    @property
    def remaining(self) -> float:
        """CPU seconds left today."""
        return max(0.0, self.limit - self.used)


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def check_schema(schema: dict[str, Any], field: str) -> None:
    """Raise InputInvalid unless ``schema`` is a valid JSON Schema."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InputInvalid(
            f"'{field}' is not a valid JSON Schema: {exc.message}; fix it (draft 2020-12)", details={"field": field}
        ) from None


def validate_against(value: object, schema: dict[str, Any], what: str) -> None:
    """Raise InputInvalid naming the first place where ``value`` breaks ``schema``."""
    try:
        Draft202012Validator(schema).validate(value)
    except SchemaViolation as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
        raise InputInvalid(f"{what} at {where}: {exc.message}", details={"pointer": where}) from None


class CodeService:
    """Runs code on runtime plugins and keeps the code tables.

    Args:
        database: Where runs, tools, sandboxes and quotas are kept.
        plugins: The plugin host the runtimes are installed in.
        credentials: The workspace credentials a sandbox may grant (an E2B API key).
        cpu_seconds_per_day: The default daily CPU budget of a workspace
            (``settings.limits.code_cpu_seconds_per_day``: ``SYNTHRAL_CODE_CPU_SECONDS_PER_DAY``, default 3600).
    """

    def __init__(
        self,
        database: Database,
        plugins: PluginHost,
        credentials: CredentialService | None = None,
        *,
        cpu_seconds_per_day: float | None = None,
    ) -> None:
        self.database = database
        self.plugins = plugins
        self.credentials = credentials
        self.grants = BlobGrants(database)
        if cpu_seconds_per_day is None:
            cpu_seconds_per_day = LimitSettings().code_cpu_seconds_per_day
        self.cpu_seconds_per_day = cpu_seconds_per_day

    # -- running -------------------------------------------------------------------------

    async def execute(
        self,
        run: CodeRun,
        *,
        workspace_id: str | None,
        user_id: str | None = None,
        secrets: dict[str, str] | None = None,
        workflow_execution_id: str | None = None,
        node_id: str | None = None,
        tool_id: str | None = None,
    ) -> CodeOutcome:
        """Run code on its runtime within its limits and the workspace's budget; record the run.

        Raises:
            QuotaExceeded: The workspace has used its CPU seconds for today.
            NotFound: The named sandbox does not exist.
            InputInvalid: The runtime refused the request (language, packages, network).
            SynthralError: The runtime plugin failed (not the code: its errors are in the result).
            BlobNotFound: Called outside a run, and ``files`` or ``inputs`` name a blob the workspace was not given.
        """
        outside_a_run = workflow_execution_id is None  # a run's own references were checked where they entered
        if outside_a_run:
            await self.grants.check(workspace_id, {"files": [f.to_json() for f in run.files], "inputs": run.inputs})
        sandbox = await self.sandbox(workspace_id, run.sandbox) if run.sandbox else None
        runtime = run.runtime or (sandbox.runtime if sandbox else DEFAULT_RUNTIME)
        limits = {
            key: value
            for source in (sandbox.model_dump(include=set(Limits.model_fields)) if sandbox else {}, run.model_dump())
            for key, value in source.items()
            if key in Limits.model_fields and value is not None
        }
        usage = await self.usage(workspace_id)
        if usage.remaining <= 0:
            raise QuotaExceeded(
                f"this workspace has used its {usage.limit:g} CPU seconds of code for today; it resets at "
                f"{usage.resets_at.isoformat()} (an owner can raise it with PUT /api/v1/code/quota)",
                details={"used": usage.used, "limit": usage.limit, "retry_after": _seconds_until(usage.resets_at)},
                retryable=False,
            )
        request = CodeRequest(
            language=run.language,
            code=run.code,
            inputs=run.inputs,
            files=run.files,
            network=run.network if run.network is not None else (sandbox.network if sandbox else []),
            packages=run.packages if run.packages is not None else (sandbox.packages if sandbox else []),
            **limits,
        )
        if request.cpu_limit > usage.remaining:
            request = request.model_copy(update={"cpu_s": max(0.01, usage.remaining)})
        granted = dict(secrets or {})
        if sandbox and sandbox.secrets:
            granted |= await self._credentials(workspace_id, sandbox.secrets)
        record_id = await self._start_record(
            run,
            runtime=runtime,
            sandbox=sandbox,
            workspace_id=workspace_id,
            user_id=user_id,
            tool_id=tool_id,
            workflow_execution_id=workflow_execution_id,
            node_id=node_id,
        )
        context = self.plugins.context(
            timeout=request.timeout_s + 60.0,
            secrets=granted,
            execution_id=workflow_execution_id,
            node_id=node_id,
        )
        try:
            output = await self.plugins.invoke(
                runtime,
                request.model_dump(mode="json"),
                config=sandbox.config if sandbox else {},
                operation="execute",
                context=context,
            )
            result = CodeResult.model_validate(output)
        except SynthralError as exc:
            await self._finish_record(record_id, None, exc)
            raise
        await self._finish_record(record_id, result, None)
        if outside_a_run:  # a run's step output grants the files it returns
            await self.grants.grant(workspace_id, [file.to_json() for file in result.files])
        return CodeOutcome(record_id, runtime, result)

    async def _credentials(self, workspace_id: str | None, slots: dict[str, str]) -> dict[str, str]:
        if self.credentials is None or workspace_id is None:
            raise ConfigurationError("this sandbox grants workspace credentials, which need a workspace and a key")
        granted = {}
        for slot, name in slots.items():
            value = await self.credentials.get_value(workspace_id, name)
            granted[slot] = value if isinstance(value, str) else str(value.get(slot) or value.get("value") or "")
        return granted

    async def _start_record(
        self,
        run: CodeRun,
        *,
        runtime: str,
        sandbox: SandboxDefinition | None,
        workspace_id: str | None,
        user_id: str | None,
        tool_id: str | None,
        workflow_execution_id: str | None,
        node_id: str | None,
    ) -> str:
        record_id = new_id()
        row = {
            "id": record_id,
            "workspace_id": workspace_id,
            "user_id": user_id,
            "runtime": runtime,
            "sandbox": run.sandbox if sandbox else None,
            "language": run.language,
            "code_sha256": hashlib.sha256(run.code.encode()).hexdigest(),
            "tool_id": tool_id,
            "workflow_execution_id": workflow_execution_id,
            "node_id": node_id,
            "status": "running",
            "cpu_s": 0.0,
            "started_at": utcnow(),
        }
        await self.database.write(lambda c: c.execute(insert(CODE_EXECUTION), row))
        return record_id

    async def _finish_record(self, record_id: str, result: CodeResult | None, failure: SynthralError | None) -> None:
        values: dict[str, Any] = {"finished_at": utcnow()}
        if result is not None:
            status = "limit" if result.limit else ("completed" if result.ok else "failed")
            values |= {
                "status": status,
                "exit_code": result.exit_code,
                "limit_hit": result.limit,
                "error_type": result.error.type if result.error else None,
                "error_message": result.error.message[:2000] if result.error else None,
                "stdout": result.stdout[:KEPT_OUTPUT],
                "stderr": result.stderr[:KEPT_OUTPUT],
                "duration_ms": result.duration_ms,
                "cpu_s": result.cpu_s,
            }
        elif failure is not None:
            values |= {"status": "error", "error_type": failure.error_type, "error_message": failure.message[:2000]}
        await self.database.write(
            lambda c: c.execute(update(CODE_EXECUTION).where(CODE_EXECUTION.c.id == record_id).values(**values))
        )

    async def workspace_of(self, workflow_execution_id: str | None) -> str | None:
        """The workspace a workflow run belongs to (None for local runs)."""
        if workflow_execution_id is None:
            return None
        query = (
            select(WORKFLOW.c.workspace_id)
            .select_from(EXECUTION.join(WORKFLOW, EXECUTION.c.workflow_id == WORKFLOW.c.id))
            .where(EXECUTION.c.id == workflow_execution_id)
        )
        async with self.database.engine.connect() as connection:
            return (await connection.execute(query)).scalar()

    async def record(self, workspace_id: str | None, record_id: str) -> dict[str, Any]:
        """One run's record.

        Raises:
            NotFound: No such run in the workspace.
        """
        async with self.database.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(CODE_EXECUTION).where(
                            CODE_EXECUTION.c.id == record_id, _same_workspace(CODE_EXECUTION, workspace_id)
                        )
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no code run {record_id!r} in this workspace", details={"id": record_id})
        return dict(row)

    # -- quotas --------------------------------------------------------------------------

    async def usage(self, workspace_id: str | None) -> Usage:
        """CPU seconds the workspace's code used today (UTC), and its daily budget."""
        start = _day_start(utcnow())
        resets = start + timedelta(days=1)
        if workspace_id is None:
            return Usage(0.0, math.inf, resets)
        async with self.database.engine.connect() as connection:
            used = (
                await connection.execute(
                    select(func.coalesce(func.sum(CODE_EXECUTION.c.cpu_s), 0.0)).where(
                        and_(CODE_EXECUTION.c.workspace_id == workspace_id, CODE_EXECUTION.c.started_at >= start)
                    )
                )
            ).scalar()
            own = (
                await connection.execute(
                    select(CODE_QUOTA.c.cpu_seconds_per_day).where(CODE_QUOTA.c.workspace_id == workspace_id)
                )
            ).scalar()
        return Usage(float(used or 0.0), float(own) if own is not None else self.cpu_seconds_per_day, resets)

    async def set_quota(self, workspace_id: str, cpu_seconds_per_day: float) -> Usage:
        """Set the workspace's own daily CPU budget.

        Raises:
            InputInvalid: The budget is negative or not finite.
        """
        if not math.isfinite(cpu_seconds_per_day) or cpu_seconds_per_day < 0:
            raise InputInvalid("cpu_seconds_per_day must be a number of seconds, 0 or more", details={"field": "q"})
        row = {"workspace_id": workspace_id, "cpu_seconds_per_day": cpu_seconds_per_day, "updated_at": utcnow()}
        statement = self.database.merge(CODE_QUOTA, ("workspace_id",))
        await self.database.write(lambda c: c.execute(statement, [row]))
        return await self.usage(workspace_id)

    # -- sandboxes -----------------------------------------------------------------------

    async def put_sandbox(self, workspace_id: str | None, name: str, definition: SandboxDefinition) -> None:
        """Create or replace a named sandbox.

        Raises:
            InputInvalid: The name is not a plain name or the runtime is not 'plugin/capability'.
        """
        if not TOOL_NAME.fullmatch(name):
            raise InputInvalid(
                f"sandbox name {name!r} must be lowercase letters, digits and '_', starting with a letter",
                details={"field": "name"},
            )
        self.plugins.resolve(definition.runtime)  # refuses what is not an installed runtime, naming it
        now = utcnow()
        row = {
            "id": new_id(),
            "workspace_id": workspace_id,
            "name": name,
            "runtime": definition.runtime,
            "config": definition.config,
            "limits": definition.model_dump(include=set(Limits.model_fields), exclude_none=True),
            "network": definition.network,
            "packages": definition.packages,
            "secrets": definition.secrets,
            "created_at": now,
            "updated_at": now,
        }

        def write(connection: Any) -> None:
            existing = connection.execute(
                select(CODE_SANDBOX.c.id).where(
                    CODE_SANDBOX.c.name == name, _same_workspace(CODE_SANDBOX, workspace_id)
                )
            ).scalar()
            if existing is None:
                connection.execute(insert(CODE_SANDBOX), row)
            else:
                changes = {k: v for k, v in row.items() if k not in {"id", "created_at", "workspace_id", "name"}}
                connection.execute(update(CODE_SANDBOX).where(CODE_SANDBOX.c.id == existing).values(**changes))

        await self.database.write(write)

    async def sandbox(self, workspace_id: str | None, name: str) -> SandboxDefinition:
        """A named sandbox.

        Raises:
            NotFound: The workspace has none of that name.
        """
        async with self.database.engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(CODE_SANDBOX).where(
                            CODE_SANDBOX.c.name == name, _same_workspace(CODE_SANDBOX, workspace_id)
                        )
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(
                f"no sandbox {name!r} in this workspace; create it with PUT /api/v1/code/sandboxes/{name}",
                details={"sandbox": name},
            )
        return _sandbox_of(row)

    async def sandboxes(self, workspace_id: str | None) -> list[tuple[str, SandboxDefinition]]:
        """The workspace's sandboxes by name."""
        async with self.database.engine.connect() as connection:
            rows = (
                (
                    await connection.execute(
                        select(CODE_SANDBOX)
                        .where(_same_workspace(CODE_SANDBOX, workspace_id))
                        .order_by(CODE_SANDBOX.c.name)
                    )
                )
                .mappings()
                .all()
            )
        return [(row["name"], _sandbox_of(row)) for row in rows]

    # -- tools ---------------------------------------------------------------------------

    async def register_tool(
        self, workspace_id: str | None, definition: ToolDefinition, *, user_id: str | None = None
    ) -> ToolVersion:
        """Save a snippet as the next version of the tool of its name.

        Raises:
            InputInvalid: The name is not a plain name, or a schema is not a JSON Schema.
        """
        if not TOOL_NAME.fullmatch(definition.name):
            raise InputInvalid(
                f"tool name {definition.name!r} must be lowercase letters, digits and '_', starting with a letter "
                "(agents call tools by it)",
                details={"field": "name"},
            )
        check_schema(definition.input_schema, "input_schema")
        if definition.output_schema is not None:
            check_schema(definition.output_schema, "output_schema")
        if definition.input_schema.get("type", "object") != "object":
            raise InputInvalid("'input_schema' must describe an object (the tool's named inputs)")
        row = {
            "id": new_id(),
            "workspace_id": workspace_id,
            "name": definition.name,
            "description": definition.description,
            "language": definition.language,
            "code": definition.code,
            "input_schema": definition.input_schema,
            "output_schema": definition.output_schema,
            "runtime": definition.runtime,
            "sandbox": definition.sandbox,
            "limits": definition.model_dump(include=set(Limits.model_fields), exclude_none=True),
            "created_by": user_id,
            "created_at": utcnow(),
        }

        def write(connection: Any) -> int:
            latest = connection.execute(
                select(func.max(CODE_TOOL.c.version)).where(
                    CODE_TOOL.c.name == definition.name, _same_workspace(CODE_TOOL, workspace_id)
                )
            ).scalar()
            version = int(latest or 0) + 1
            connection.execute(insert(CODE_TOOL), {**row, "version": version})
            return version

        version = await self.database.write(write)
        return _tool_of({**row, "version": version})

    async def tools(self, workspace_id: str | None, name: str | None = None) -> list[ToolVersion]:
        """The latest version of every tool, by name; or every version of ``name``, newest first."""
        query = select(CODE_TOOL).where(_same_workspace(CODE_TOOL, workspace_id))
        if name is not None:
            query = query.where(CODE_TOOL.c.name == name).order_by(CODE_TOOL.c.version.desc())
        else:
            latest = (
                select(CODE_TOOL.c.name, func.max(CODE_TOOL.c.version).label("version"))
                .where(_same_workspace(CODE_TOOL, workspace_id))
                .group_by(CODE_TOOL.c.name)
                .subquery()
            )
            query = query.join(
                latest, and_(CODE_TOOL.c.name == latest.c.name, CODE_TOOL.c.version == latest.c.version)
            ).order_by(CODE_TOOL.c.name)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_tool_of(dict(row)) for row in rows]

    async def tool(self, workspace_id: str | None, name: str, version: int | None = None) -> ToolVersion:
        """One version of a tool (the latest by default).

        Raises:
            NotFound: No such tool or version.
        """
        versions = await self.tools(workspace_id, name)
        found = (
            versions[0] if versions and version is None else next((t for t in versions if t.version == version), None)
        )
        if found is None:
            what = name if version is None else f"{name} version {version}"
            raise NotFound(
                f"no tool {what} in this workspace; register it with POST /api/v1/code/register-tool",
                details={"tool": name, "version": version},
            )
        return found

    async def run_tool(
        self,
        workspace_id: str | None,
        name: str,
        inputs: dict[str, JsonValue],
        *,
        version: int | None = None,
        user_id: str | None = None,
        secrets: dict[str, str] | None = None,
        workflow_execution_id: str | None = None,
        node_id: str | None = None,
    ) -> CodeOutcome:
        """Run a tool with typed inputs; its result is checked against its output schema.

        Raises:
            InputInvalid: The inputs break the tool's input schema.
            NotFound: No such tool.
        """
        tool = await self.tool(workspace_id, name, version)
        validate_against(inputs, tool.input_schema, f"input of tool {tool.name} v{tool.version}")
        run = CodeRun(
            language=tool.language,
            code=tool.code,
            inputs=inputs,
            runtime=tool.runtime,
            sandbox=tool.sandbox,
            **tool.model_dump(include=set(Limits.model_fields), exclude_none=True),
        )
        outcome = await self.execute(
            run,
            workspace_id=workspace_id,
            user_id=user_id,
            secrets=secrets,
            workflow_execution_id=workflow_execution_id,
            node_id=node_id,
            tool_id=tool.id,
        )
        if outcome.result.ok and tool.output_schema is not None:
            try:
                validate_against(outcome.result.result, tool.output_schema, f"result of tool {tool.name}")
            except InputInvalid as exc:
                error = CodeError(type="OutputInvalid", message=exc.message)
                result = outcome.result.model_copy(update={"error": error, "exit_code": 1})
                await self._finish_record(outcome.execution_id, result, None)
                return CodeOutcome(outcome.execution_id, outcome.runtime, result)
        return outcome

    @staticmethod
    def tool_specs(tools: list[ToolVersion]) -> list[ToolSpec]:
        """The tools as an agent sees them: name, description and the JSON Schema of the arguments."""
        return [ToolSpec(name=t.name, description=t.description, parameters=t.input_schema) for t in tools]


def _same_workspace(table: Any, workspace_id: str | None) -> Any:
    column = table.c.workspace_id
    return column.is_(None) if workspace_id is None else column == workspace_id


def _sandbox_of(row: Any) -> SandboxDefinition:
    return SandboxDefinition(
        runtime=row["runtime"],
        config=row["config"] or {},
        network=row["network"] or [],
        packages=row["packages"] or [],
        secrets=row["secrets"] or {},
        **(row["limits"] or {}),
    )


def _tool_of(row: dict[str, Any]) -> ToolVersion:
    return ToolVersion(
        id=row["id"],
        name=row["name"],
        version=row["version"],
        description=row["description"],
        language=row["language"],
        code=row["code"],
        input_schema=row["input_schema"] or {"type": "object"},
        output_schema=row["output_schema"],
        runtime=row["runtime"],
        sandbox=row["sandbox"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        **(row["limits"] or {}),
    )


def _seconds_until(moment: datetime) -> int:
    return max(1, int((moment - utcnow()).total_seconds()))
