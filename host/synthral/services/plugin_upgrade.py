"""Upgrade checks: replay recorded step inputs of a plugin against a new version, side by side.

For each capability of the plugin that execution history used, the newest completed steps
that ran on an older version are taken (``samples`` per capability). Each recorded input is
checked against the new version's schemas, then called on the new version (in its own
sandbox, with the grant it was installed with) with the credentials the original step was
granted, resolved again on the host; what comes back is masked like a step's output and
compared with the recorded output.

An agent framework's history is its completed agent tasks (``agent/run`` steps it ran): the
task is asked of the new version again, and what it asks of the host is answered from the
task's record (:class:`~synthral.services.upgrade_answers.RecordedAnswers`): recorded LLM
results for the same requests in the same order, recorded tool results for the same calls.
No model is called and no tool runs during a check; a new version that asks something the
record does not hold is stopped there and its sample is *changed*, the reason naming what it
asked. A step that is not an agent task has nothing recorded to answer with: asking the host
fails the sample, the reason saying so.

A sample is *identical*, *changed* (with an RFC 6902 JSON Patch from the old output to the
new, or a reason when the new version asked what the record does not hold), *failing* (the
new version raised) or *incompatible* (the capability or operation is gone, or the new
config/input/output schema rejects what was recorded).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

import jsonpatch
import orjson
from jsonschema.validators import validator_for
from pydantic import ValidationError
from sqlalchemy import and_, select

from synthral.errors import InputInvalid, InstallError, SynthralError
from synthral.plugins.host import PluginHost
from synthral.plugins.layout import Manifest, sort_versions
from synthral.plugins.permissions import GrantRequest
from synthral.plugins.wheels import inspect_wheel
from synthral.security.redact import Redactor
from synthral.services.agent_models import AgentConfig, AgentInput
from synthral.services.agent_tools import ToolBox
from synthral.services.agents import Replay, agent_request, structured_data
from synthral.services.upgrade_answers import NOT_RECORDED, RecordedAnswers
from synthral.store.ai_tables import AGENT_TASK, AGENT_TASK_LOG, AgentTaskStatus
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, STEP, WORKFLOW, WORKFLOW_VERSION, StepStatus
from synthral_sdk import AgentResult, CapabilitySpec
from synthral_sdk.types import BlobRef, JSONObject, JSONValue

__all__ = ["DEFAULT_SAMPLES", "Outcome", "Sample", "SecretsFn", "UpgradeChecker", "UpgradeReport"]

DEFAULT_SAMPLES: Final = 5
"""Recorded steps replayed per capability unless the caller says otherwise."""
MAX_SAMPLES: Final = 100
AGENT_OPERATION: Final = "run_agent"
AGENT_FIELDS: Final = ("output", "data", "steps")
"""What of an agent step's output the framework decides (the rest is the host's bookkeeping)."""

SecretsFn = Callable[[list[str], str | None], Awaitable[dict[str, str]]]
"""``await secrets(names, workspace_id)``: the engine's secret resolver."""


class Outcome(enum.StrEnum):
    """How a replayed sample compares with what the old version recorded."""

    IDENTICAL = "identical"
    CHANGED = "changed"
    FAILING = "failing"
    INCOMPATIBLE = "incompatible"


@dataclass(frozen=True)
class Sample:
    """One recorded step replayed against the new version.

    Attributes:
        capability: The capability's name (``greet`` of ``upgrady/greet``).
        step_id, execution_id, workflow_id, workflow, node_id: Where it was recorded.
        old_version: The plugin version that recorded it.
        outcome: The comparison.
        diff: JSON Patch operations turning the recorded output into the new one (changed only).
        reason: Why it failed or is incompatible, or what the new version asked that the
            recorded run did not (changed without a diff), secrets masked.
        error_type: The new version's error type, when it failed.
    """

    capability: str
    step_id: int
    execution_id: str
    workflow_id: str
    workflow: str
    node_id: str
    old_version: str
    outcome: Outcome
    diff: list[JSONObject] = field(default_factory=list)
    reason: str = ""
    error_type: str | None = None

    def to_json(self) -> JSONObject:
        """The form the CLI's ``--json`` and the API answer."""
        return {
            "capability": self.capability,
            "step_id": self.step_id,
            "execution_id": self.execution_id,
            "workflow_id": self.workflow_id,
            "workflow": self.workflow,
            "node_id": self.node_id,
            "old_version": self.old_version,
            "outcome": self.outcome.value,
            "diff": cast(JSONValue, self.diff),
            "reason": self.reason,
            "error_type": self.error_type,
        }


@dataclass
class UpgradeReport:
    """What replaying history against a new version found.

    Attributes:
        plugin: The plugin checked.
        to_version: The version replayed against.
        from_versions: The older versions the samples were recorded with.
        samples: Every replayed sample, by capability then newest first.
        removed: Capabilities of the newest older version the new one no longer has.
        notes: Things worth saying that are not samples (no history, a capability never used).
    """

    plugin: str
    to_version: str
    from_versions: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many samples had each outcome."""
        return {outcome.value: sum(1 for s in self.samples if s.outcome is outcome) for outcome in Outcome}

    @property
    def clean(self) -> bool:
        """No sample differs and no used capability is gone: applying changes nothing recorded."""
        return all(sample.outcome is Outcome.IDENTICAL for sample in self.samples)

    def to_json(self) -> JSONObject:
        """The form the CLI's ``--json`` and the API answer."""
        return {
            "plugin": self.plugin,
            "to_version": self.to_version,
            "from_versions": cast(JSONValue, self.from_versions),
            "clean": self.clean,
            "counts": cast(JSONValue, self.counts()),
            "samples": [sample.to_json() for sample in self.samples],
            "removed_capabilities": cast(JSONValue, self.removed),
            "notes": cast(JSONValue, self.notes),
        }


@dataclass(frozen=True)
class _AgentTask:
    """The agent task a recorded ``agent/run`` step ran, with what it recorded."""

    task_id: str
    input_data: dict[str, Any]


@dataclass(frozen=True)
class _Recorded:
    """A completed step read from history, with what its node was given."""

    step_id: int
    execution_id: str
    workflow_id: str
    workflow: str
    workspace_id: str | None
    node_id: str
    key: str
    input: Any
    output: Any
    old_version: str
    config: dict[str, Any]
    operation: str | None
    secrets: list[str]
    timeout: float | None
    finished_at: datetime | None = None
    agent_task: _AgentTask | None = None


def _graph_node(graph: Any, node_id: str) -> dict[str, Any]:
    """The node ``node_id`` of a saved graph; empty when the graph has no such node."""
    return next((n for n in (graph or {}).get("nodes", []) if n.get("id") == node_id), {})


def _sample_columns() -> tuple[Any, ...]:
    """The columns :func:`_recorded_step` reads from a step joined to its run (:func:`_joined_to_run`)."""
    return (
        STEP.c.id,
        STEP.c.execution_id,
        STEP.c.node_id,
        STEP.c.idempotency_key,
        STEP.c.output,
        STEP.c.finished_at,
        EXECUTION.c.workflow_id,
        WORKFLOW.c.name,
        WORKFLOW.c.workspace_id,
        WORKFLOW_VERSION.c.graph,
    )


def _recorded_step(row: Any, node: dict[str, Any], output: Any, **called: Any) -> _Recorded:
    """A history row (a step joined to its run and workflow) as a sample; ``called``: what the node was given."""
    return _Recorded(
        step_id=int(row.id),
        execution_id=str(row.execution_id),
        workflow_id=str(row.workflow_id),
        workflow=str(row.name),
        workspace_id=row.workspace_id,
        node_id=str(row.node_id),
        key=str(row.idempotency_key),
        output=output,
        secrets=list(node.get("secrets") or []),
        timeout=node.get("timeout"),
        finished_at=row.finished_at,
        **called,
    )


def _joined_to_run(query: Any) -> Any:
    """``query`` (over ``step``) joined to the step's run, its workflow and the version the run ran."""
    return (
        query.join(EXECUTION, EXECUTION.c.id == STEP.c.execution_id)
        .join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id)
        .join(
            WORKFLOW_VERSION,
            and_(
                WORKFLOW_VERSION.c.workflow_id == EXECUTION.c.workflow_id,
                WORKFLOW_VERSION.c.version == EXECUTION.c.workflow_version,
            ),
        )
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _ran_on(installed: list[tuple[datetime, str]], started: datetime) -> str | None:
    """The version an agent task started at ``started`` ran on: the newest of those installed by then.

    The router takes the newest enabled version, and a task does not record which that was.
    None when every version installed by then has been removed since.
    """
    versions = [version for at, version in installed if at <= _aware(started)]
    return sort_versions(versions)[-1] if versions else None


def _schema_problem(schema: dict[str, Any], value: Any) -> str | None:
    """The first reason ``schema`` rejects ``value``, or None."""
    if not schema:
        return None
    validator = validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    error = errors[0]
    where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"at {where}: {error.message}"


class UpgradeChecker:
    """Installs a new plugin version beside the old one and replays history against it.

    Args:
        host: The plugin host (the new version runs in its own sandboxed process).
        database: Where execution history and saved workflows are.
        secrets: Resolves the credentials a recorded step was granted (the engine's resolver).
    """

    def __init__(self, host: PluginHost, database: Database, secrets: SecretsFn) -> None:
        self.host = host
        self.database = database
        self.secrets = secrets

    async def prepare(
        self, plugin: str, version: str, *, source: str | None = None, grant: GrantRequest | None = None
    ) -> Manifest:
        """The installed ``plugin`` ``version``, installing it beside the older ones when needed.

        The installer decides the grant: the older version's grant is kept when it covers what
        the new one declares; one that asks for more needs ``grant`` (or is refused).

        Raises:
            PluginNotFound: ``plugin`` is not installed at all.
            InputInvalid: It is built into the host.
            InstallError: ``version`` cannot be installed (the message says why), or ``source``
                holds another plugin or version (nothing of it is left installed).
            ApprovalRequired: The new version asks for permissions nobody granted.
        """
        infos = self.host.plugin_versions(plugin)
        if any(info.builtin for info in infos):
            raise InputInvalid(
                f"{plugin} is built into the host; it is upgraded with SynthralOS itself, not on its own",
                details={"plugin": plugin},
            )
        name = infos[0].name
        installed = {info.version: info.manifest for info in infos if info.manifest is not None}
        if version in installed:
            return installed[version]
        wanted = source or f"{infos[0].dist}=={version}"
        # A wheel says what it holds before anything is installed (one stat, one zip read: no thread needed).
        if wanted.endswith(".whl") and Path(wanted).is_file():  # noqa: ASYNC240
            info = inspect_wheel(Path(wanted))
            self._refuse_other(wanted, info.plugin_name, info.version, name, version)
        try:
            manifest = await self.host.install(wanted, grant=grant)
        except InstallError as exc:
            exc.message = f"{name} {version} cannot be installed for the upgrade check: {exc.message}"
            exc.args = (exc.message,)
            raise
        if manifest.name != name or manifest.version != version:
            if manifest.name != name or manifest.version not in installed:
                await self.host.remove(manifest.name, manifest.version)
            self._refuse_other(wanted, manifest.name, manifest.version, name, version)
        return manifest

    @staticmethod
    def _refuse_other(source: str, found: str, found_version: str, name: str, version: str) -> None:
        if (found, found_version) != (name, version):
            raise InstallError(
                f"{source} holds {found} {found_version}, not {name} {version}; nothing of it was kept. "
                f"Give the source of {name} {version}",
                details={"plugin": name, "version": version, "found": f"{found}=={found_version}"},
            )

    async def check(
        self,
        plugin: str,
        version: str,
        *,
        samples: int = DEFAULT_SAMPLES,
        workspace_id: str | None = None,
        source: str | None = None,
        grant: GrantRequest | None = None,
    ) -> UpgradeReport:
        """Replay up to ``samples`` recorded steps per capability of ``plugin`` against ``version``.

        Only the history of ``workspace_id``'s workflows is read (None: the local ones); no
        history is a report saying so, not an error.

        Raises:
            InputInvalid: ``samples`` is out of range.
            (and what :meth:`prepare` raises)
        """
        if not 1 <= samples <= MAX_SAMPLES:
            raise InputInvalid(
                f"samples must be between 1 and {MAX_SAMPLES} recorded steps per capability, not {samples}",
                details={"samples": samples},
            )
        manifest = await self.prepare(plugin, version, source=source, grant=grant)
        name = manifest.name
        report = UpgradeReport(plugin=name, to_version=version)
        new_specs = {str(c.get("name")): CapabilitySpec.model_validate(c) for c in manifest.capabilities}
        older = [info for info in self.host.plugin_versions(name) if info.version != version]
        if older and older[-1].manifest is not None:
            previous = {str(c.get("name")) for c in older[-1].manifest.capabilities}
            report.removed = sorted(previous - set(new_specs))
        used = sorted(
            set(await self._used_capabilities(name, workspace_id))
            | set(await self._agent_capabilities(name, workspace_id))
        )
        if not used:
            report.notes.append(
                f"no completed steps of {name} are recorded"
                f"{' in this workspace' if workspace_id else ''}: nothing could be replayed. Run the workflows "
                f"that use it on their current version first, or apply {version} without evidence"
            )
        versions: set[str] = set()
        for capability in used:
            recorded = await self._sample(name, capability, version, samples, workspace_id)
            recorded += await self._sample_agent_tasks(name, capability, version, samples, workspace_id)
            newest = datetime.max.replace(tzinfo=UTC)
            recorded.sort(key=lambda step: _aware(step.finished_at) if step.finished_at else newest, reverse=True)
            del recorded[samples:]
            if not recorded:
                report.notes.append(f"{name}/{capability}: every recorded step already ran on {version}")
            for step in recorded:
                versions.add(step.old_version)
                report.samples.append(await self._replay(name, capability, version, new_specs.get(capability), step))
        for capability in report.removed:
            if capability not in used:
                report.notes.append(f"{name}/{capability} is gone in {version}; no recorded step used it")
        report.from_versions = sorted(versions)
        return report

    # -- history -----------------------------------------------------------------------

    def _scope(self, workspace_id: str | None) -> Any:
        if workspace_id is None:
            return WORKFLOW.c.workspace_id.is_(None)
        return WORKFLOW.c.workspace_id == workspace_id

    async def _used_capabilities(self, plugin: str, workspace_id: str | None) -> list[str]:
        query = (
            select(STEP.c.node_type)
            .distinct()
            .join(EXECUTION, EXECUTION.c.id == STEP.c.execution_id)
            .join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id)
            .where(
                STEP.c.node_type.startswith(f"{plugin}/", autoescape=True),
                STEP.c.status == StepStatus.COMPLETED,
                self._scope(workspace_id),
            )
        )
        async with self.database.engine.connect() as connection:
            types = list((await connection.execute(query)).scalars())
        return sorted(str(t).split("/", 1)[1] for t in types)

    async def _sample(
        self, plugin: str, capability: str, target: str, samples: int, workspace_id: str | None
    ) -> list[_Recorded]:
        """The newest ``samples`` completed steps of one capability recorded by a version other than ``target``."""
        query = (
            _joined_to_run(select(*_sample_columns(), STEP.c.input, WORKFLOW_VERSION.c.plugin_versions))
            .where(
                STEP.c.node_type == f"{plugin}/{capability}",
                STEP.c.status == StepStatus.COMPLETED,
                STEP.c.replayed_from.is_(None),  # a replayed run's step reused an output, it recorded none
                self._scope(workspace_id),
            )
            .order_by(STEP.c.finished_at.desc(), STEP.c.id.desc())
        )
        found: list[_Recorded] = []
        async with self.database.engine.connect() as connection:
            result = await connection.stream(query.execution_options(yield_per=50))
            async for row in result:
                node = _graph_node(row.graph, row.node_id)
                own = node.get("type") == f"{plugin}/{capability}"
                config = node.get("config") or {}
                mapped = not own and config.get("type") == f"{plugin}/{capability}"  # a map node's per-item calls
                called = config if mapped else node
                old = (node.get("version") if own else None) or (row.plugin_versions or {}).get(plugin)
                if old is None or old == target:
                    continue
                found.append(
                    _recorded_step(
                        row,
                        node,
                        self._unpack(row.output),
                        input=row.input if row.input is not None else {},
                        old_version=str(old),
                        config=dict(called.get("config") or {}) if own or mapped else {},
                        operation=called.get("operation") if own or mapped else None,
                    )
                )
                if len(found) >= samples:
                    break
            await result.close()
        return found

    def _task_step(self) -> Any:
        """The ``agent/run`` step an agent task ran in: same execution, node and idempotency key."""
        return and_(
            STEP.c.execution_id == AGENT_TASK.c.execution_id,
            STEP.c.node_id == AGENT_TASK.c.node_id,
            STEP.c.idempotency_key == AGENT_TASK.c.idempotency_key,
        )

    async def _agent_capabilities(self, plugin: str, workspace_id: str | None) -> list[str]:
        """The agent framework capabilities of ``plugin`` that completed agent tasks in recorded steps."""
        query = (
            select(AGENT_TASK.c.agent_framework)
            .distinct()
            .join(STEP, self._task_step())
            .join(EXECUTION, EXECUTION.c.id == STEP.c.execution_id)
            .join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id)
            .where(
                AGENT_TASK.c.agent_framework.startswith(f"{plugin}/", autoescape=True),
                AGENT_TASK.c.status == AgentTaskStatus.COMPLETED,
                STEP.c.status == StepStatus.COMPLETED,
                self._scope(workspace_id),
            )
        )
        async with self.database.engine.connect() as connection:
            frameworks = list((await connection.execute(query)).scalars())
        return sorted(str(f).split("/", 1)[1] for f in frameworks)

    def _installed_at(self, plugin: str) -> list[tuple[datetime, str]]:
        """When each installed version of ``plugin`` was installed."""
        return [
            (_aware(info.manifest.installed_at), info.version)
            for info in self.host.plugin_versions(plugin)
            if info.manifest is not None
        ]

    async def _sample_agent_tasks(
        self, plugin: str, capability: str, target: str, samples: int, workspace_id: str | None
    ) -> list[_Recorded]:
        """The newest ``samples`` completed agent tasks ``plugin/capability`` ran on a version other than ``target``."""
        query = (
            _joined_to_run(
                select(
                    AGENT_TASK.c.id.label("task_id"),
                    AGENT_TASK.c.input_data,
                    AGENT_TASK.c.started_at,
                    *_sample_columns(),
                ).join(STEP, self._task_step())
            )
            .where(
                AGENT_TASK.c.agent_framework == f"{plugin}/{capability}",
                AGENT_TASK.c.status == AgentTaskStatus.COMPLETED,
                STEP.c.status == StepStatus.COMPLETED,
                STEP.c.replayed_from.is_(None),
                self._scope(workspace_id),
            )
            .order_by(STEP.c.finished_at.desc(), STEP.c.id.desc())
        )
        installed = self._installed_at(plugin)
        found: list[_Recorded] = []
        async with self.database.engine.connect() as connection:
            result = await connection.stream(query.execution_options(yield_per=50))
            async for row in result:
                old = _ran_on(installed, row.started_at)
                if old is None or old == target:
                    continue
                found.append(
                    _recorded_step(
                        row,
                        _graph_node(row.graph, row.node_id),
                        self._unpack(row.output),
                        input=row.input_data,
                        old_version=old,
                        config={},
                        operation=AGENT_OPERATION,
                        agent_task=_AgentTask(task_id=str(row.task_id), input_data=dict(row.input_data or {})),
                    )
                )
                if len(found) >= samples:
                    break
            await result.close()
        return found

    async def _task_log(self, task_id: str) -> list[Any]:
        async with self.database.engine.connect() as connection:
            query = select(AGENT_TASK_LOG).where(AGENT_TASK_LOG.c.task_id == task_id).order_by(AGENT_TASK_LOG.c.seq)
            return list((await connection.execute(query)).all())

    def _unpack(self, stored: Any) -> Any:
        """A recorded output, loaded from the blob store when it was too large to keep inline."""
        if isinstance(stored, dict) and set(stored) == {"$output"} and isinstance(stored["$output"], dict):
            return orjson.loads(self.host.blobs.get(BlobRef.model_validate(stored["$output"])))
        return stored

    # -- replay ------------------------------------------------------------------------

    async def _replay(
        self, plugin: str, capability: str, version: str, spec: CapabilitySpec | None, step: _Recorded
    ) -> Sample:
        def sample(outcome: Outcome, **extra: Any) -> Sample:
            return Sample(
                capability=capability,
                step_id=step.step_id,
                execution_id=step.execution_id,
                workflow_id=step.workflow_id,
                workflow=step.workflow,
                node_id=step.node_id,
                old_version=step.old_version,
                outcome=outcome,
                **extra,
            )

        if spec is None:
            return sample(Outcome.INCOMPATIBLE, reason=f"{plugin} {version} has no capability {capability!r}")
        operation = step.operation or (next(iter(spec.operations)) if len(spec.operations) == 1 else None)
        if operation is None or operation not in spec.operations:
            return sample(
                Outcome.INCOMPATIBLE,
                reason=f"{plugin} {version}'s {capability} has no operation {operation!r} "
                f"(it has: {', '.join(sorted(spec.operations))})",
            )
        try:
            call = await self._agent_call(step) if step.agent_task is not None else _Call.of(step)
        except (SynthralError, ValidationError) as exc:
            message = exc.message if isinstance(exc, SynthralError) else str(exc.errors()[0]["msg"])
            return sample(
                Outcome.FAILING,
                reason=f"the recorded agent task cannot be asked again: {message}",
                error_type=exc.error_type if isinstance(exc, SynthralError) else "ValidationError",
            )
        op = spec.operations[operation]
        for what, schema, value in (
            ("config", spec.config_schema, call.config),
            ("input", op.input_schema, call.input),
            ("output", op.output_schema if call.agent is None else {}, step.output),
        ):
            problem = _schema_problem(cast(dict[str, Any], schema), value)
            if problem is not None:
                return sample(
                    Outcome.INCOMPATIBLE,
                    reason=f"the recorded {what} does not fit {version}'s {what} schema {problem}",
                )
        redactor = Redactor()
        answers = call.answers
        try:
            secrets = await self.secrets(step.secrets, step.workspace_id) if step.secrets else {}
            redactor.add(*secrets.values())
            handle = self.host.resolve(f"{plugin}/{capability}", version)
            context = self.host.context(
                timeout=call.timeout,
                secrets=secrets if call.agent is None else None,  # an agent framework gets none: the host holds them
                execution_id=step.execution_id if call.agent is not None else None,
                node_id=step.node_id,
                idempotency_key=step.key,  # the original key: idempotent remote APIs do not repeat the effect
                host=answers,
                workspace_id=step.workspace_id,
            )
            output = await _until_stopped(handle.call(operation, call.config, call.input, context), answers)
            if answers.divergence is None and call.agent is not None:
                output = _agent_output(output, call.agent, redactor)
        except SynthralError as exc:
            if answers.divergence is None:
                masked = redactor.error(exc)
                return sample(Outcome.FAILING, reason=masked.message, error_type=masked.error_type)
        except ValidationError as exc:
            return sample(
                Outcome.FAILING,
                reason=f"{plugin} {version}'s answer is not an agent result: {exc.errors()[0]['msg']}",
                error_type="ValidationError",
            )
        if answers.divergence is not None:
            if answers.replay is not None:  # the record answers this task, but not what the new version asked
                return sample(Outcome.CHANGED, reason=redactor.text(answers.divergence))
            return sample(Outcome.FAILING, reason=redactor.text(answers.divergence), error_type=NOT_RECORDED)
        new = redactor.value(output)
        old = step.output
        if call.agent is not None and isinstance(old, dict):
            old = {name: old.get(name) for name in AGENT_FIELDS}
        if new == old:
            return sample(Outcome.IDENTICAL)
        patch = jsonpatch.make_patch(old, new)
        return sample(Outcome.CHANGED, diff=cast(list[JSONObject], list(patch)))

    async def _agent_call(self, step: _Recorded) -> _Call:
        """The framework call a recorded agent task made, with host services answering from its record.

        Raises:
            ValidationError: The recorded task's config or task no longer validates.
            ConfigurationError: A tool it was granted cannot be described again (gone, or a workflow tool).
        """
        assert step.agent_task is not None
        recorded = step.agent_task.input_data
        config = AgentConfig.model_validate(recorded.get("config") or {})
        agent_input = AgentInput(task=str(recorded.get("task") or ""), inputs=recorded.get("inputs") or {})

        async def never(names: list[str]) -> dict[str, str]:  # tools are answered from the record, never run
            del names
            return {}

        toolbox = ToolBox(
            self.host, config.tools, secrets_for=never, workflows=None, workspace_id=step.workspace_id, scope=step.key
        )
        tools = await toolbox.prepare()
        replay = Replay.from_rows(await self._task_log(step.agent_task.task_id))
        if replay.llm or replay.tools:
            answers = RecordedAnswers(replay, model=config.llm.model, toolbox=toolbox)
        else:
            answers = RecordedAnswers(
                None, why_none="the recorded agent task's log holds no LLM answers or tool results (removed)"
            )
        timeouts = [t for t in (step.timeout, config.budget.max_seconds) if t is not None]
        return _Call(
            config=dict(config.framework_config),
            input=agent_request(config, agent_input, tools).model_dump(mode="json"),
            timeout=min(timeouts) if timeouts else None,
            answers=answers,
            agent=config,
        )


@dataclass(frozen=True)
class _Call:
    """What a replay calls the new version with."""

    config: dict[str, Any]
    input: Any
    timeout: float | None
    answers: RecordedAnswers
    agent: AgentConfig | None = None
    """The recorded agent task's config, when the call replays one."""

    @classmethod
    def of(cls, step: _Recorded) -> _Call:
        """A plain step's call: nothing is recorded to answer what it asks of the host."""
        return cls(
            config=step.config,
            input=step.input,
            timeout=step.timeout,
            answers=RecordedAnswers(None, why_none="the recorded step is not an agent task"),
        )


async def _until_stopped(call: Awaitable[Any], answers: RecordedAnswers) -> Any:
    """Await ``call``, cancelling it once ``answers`` refused something (a framework may go on regardless).

    Returns None when it was stopped.
    """
    running = asyncio.ensure_future(call)
    stopped = asyncio.ensure_future(answers.stopped.wait())
    try:
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not running.done():
            running.cancel()
            await asyncio.wait({running})
    if running.cancelled():
        return None
    if answers.divergence is not None and running.exception() is not None:
        return None  # the error is the refusal coming back; the divergence says it better
    return running.result()


def _agent_output(raw: Any, config: AgentConfig, redactor: Redactor) -> JSONObject:
    """What of an agent step's output the framework's answer decides (:data:`AGENT_FIELDS`)."""
    result = AgentResult.model_validate(raw)
    data = result.data
    if config.output_schema is not None:
        data = structured_data(result, config.output_schema)
    return {
        "output": redactor.text(result.output),
        "data": redactor.value(data),
        "steps": [step.model_dump(mode="json") for step in result.steps][-50:],
    }
