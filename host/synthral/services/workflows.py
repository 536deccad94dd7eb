"""Workflow use cases, shared by the CLI and the API: save, run, inspect, control, replay."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jsonschema
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from synthral.engine import state
from synthral.engine.engine_nodes import HumanInputConfig
from synthral.engine.loader import parse_workflow
from synthral.engine.model import PollTrigger, SignalTrigger, WebhookTrigger, Workflow
from synthral.engine.polling import sync_triggers
from synthral.engine.registry import HUMAN_INPUT, Behaviour, builtin
from synthral.engine.repository import SavedVersion, get_version, get_workflow_row, save_workflow
from synthral.engine.runtime import Engine
from synthral.engine.schedules import sync_schedules
from synthral.engine.validate import SpecCatalog, ValidationIssue, ensure_valid, validate_workflow
from synthral.errors import ConfigurationError, InputInvalid, SynthralError, WorkflowInvalid
from synthral.plugins.host import PluginHost
from synthral.plugins.proxy import RemoteCapability
from synthral.services.blob_grants import BlobGrants, blob_refs
from synthral.services.connectors import ConnectorCatalog
from synthral.store.db import Database
from synthral.store.tables import (
    EXECUTION,
    STEP,
    WORKFLOW,
    WORKFLOW_VERSION,
    ExecutionStatus,
    StepStatus,
    new_id,
)
from synthral_sdk import CapabilitySpec

__all__ = ["ExecutionNotFound", "ExecutionView", "WorkflowService"]

_SUMMARY = (
    WORKFLOW.c.id,
    WORKFLOW.c.name,
    WORKFLOW.c.description,
    WORKFLOW.c.version,
    WORKFLOW.c.is_active,
    WORKFLOW.c.created_at,
    WORKFLOW.c.updated_at,
)


class ExecutionNotFound(ConfigurationError):
    """No execution with that id."""

    code = "execution_not_found"


@dataclass
class ExecutionView:
    """An execution with its steps, for people and scripts."""

    execution: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The execution's status."""
        return str(self.execution["status"])


def _row(row: Any) -> dict[str, Any]:
    """A row as plain JSON-ready values: str keys (SQLAlchemy's are a str subclass), ISO times."""
    return {
        str(key): value.isoformat() if isinstance(value, datetime) else value
        for key, value in row._mapping.items()  # noqa: SLF001 -- SQLAlchemy's documented row-as-mapping accessor
    }


class WorkflowService:
    """The workflow use cases over one database, plugin host and engine."""

    def __init__(self, database: Database, plugins: PluginHost, engine: Engine) -> None:
        self.database = database
        self.plugins = plugins
        self.engine = engine
        self.grants = BlobGrants(database)

    # -- definitions ---------------------------------------------------------------------

    def _lookup(self, node_type: str, version: str | None) -> CapabilitySpec | None:
        try:
            return self.plugins.resolve(node_type, version).spec()
        except SynthralError:
            return None

    def _pins(self, workflow: Workflow) -> dict[str, str]:
        pins: dict[str, str] = {}
        for node in workflow.nodes:
            types = [node.type]
            record = builtin(node.type)
            inner = node.config.get("type") if record is not None and record.behaviour is Behaviour.MAP else None
            if isinstance(inner, str):
                types.append(inner)
            for node_type in types:
                if builtin(node_type) is not None:
                    continue
                handle = self.plugins.resolve(node_type, node.version)
                if isinstance(handle, RemoteCapability):
                    pins[node_type.split("/", 1)[0]] = handle.process.options.version
        for trigger in workflow.triggers:
            if isinstance(trigger, PollTrigger):  # polled at the version the workflow was saved against
                handle = self.plugins.resolve(trigger.trigger)
                if isinstance(handle, RemoteCapability):
                    pins.setdefault(trigger.trigger.split("/", 1)[0], handle.process.options.version)
            # A connector's webhooks are verified with the version of it the workflow was saved against.
            connector = (
                ConnectorCatalog(self.plugins).find(trigger.connector)
                if isinstance(trigger, WebhookTrigger) and trigger.connector
                else None
            )
            if connector is not None:
                pins.setdefault(connector.plugin, connector.version)
        return pins

    def check(self, data: object, *, source: str = "the workflow") -> list[ValidationIssue]:
        """Every problem with a workflow definition (parsed JSON), without saving it; empty when valid.

        Shape problems (a missing field, a bad id) come first and alone: the rest of the checks
        need a well-formed workflow.
        """
        try:
            workflow = parse_workflow(data, source=source)
        except WorkflowInvalid as exc:
            listed = exc.details.get("issues")
            if isinstance(listed, list) and listed:
                return [ValidationIssue.model_validate(issue) for issue in listed]
            return [ValidationIssue.at(None, (), "invalid_workflow", exc.message)]
        return validate_workflow(
            workflow, self._lookup, known_types=SpecCatalog.from_entries(self.plugins.catalog()).types
        )

    async def save(
        self, workflow: Workflow, *, workspace_id: str | None = None, owner_id: str | None = None
    ) -> SavedVersion:
        """Validate and store a workflow; a changed graph (or plugin set) becomes a new version.

        Raises:
            WorkflowInvalid: Every problem found, each naming its node.
            BlobNotFound: A node or trigger refers to a blob the workspace was not given.
        """
        ensure_valid(workflow, self._lookup, known_types=SpecCatalog.from_entries(self.plugins.catalog()).types)
        await self.grants.check(workspace_id, workflow.model_dump(mode="json"))
        pins = self._pins(workflow)
        async with self.database.transaction() as connection:
            saved = await save_workflow(connection, workflow, pins, owner_id=owner_id, workspace_id=workspace_id)
            await sync_schedules(connection, saved.workflow_id, workflow)
            await sync_triggers(connection, saved.workflow_id, workflow)
        return saved

    async def get(
        self, name_or_id: str, version: int | None = None, *, workspace_id: str | None = None
    ) -> SavedVersion:
        """A workflow version (the latest by default), in ``workspace_id`` when given."""
        async with self.database.engine.connect() as connection:
            row = await get_workflow_row(connection, name_or_id, workspace_id)
            return await get_version(connection, row.id, version)

    async def list_workflows(
        self, *, workspace_id: str | None = None, limit: int = 50, after: str | None = None
    ) -> list[dict[str, Any]]:
        """Workflows (of ``workspace_id``; else the local ones), by name; ``after`` (a name) pages on."""
        scope = WORKFLOW.c.workspace_id.is_(None) if workspace_id is None else WORKFLOW.c.workspace_id == workspace_id
        query = select(*_SUMMARY).where(scope).order_by(WORKFLOW.c.name).limit(limit)
        if after is not None:
            query = query.where(WORKFLOW.c.name > after)
        async with self.database.engine.connect() as connection:
            return [_row(r) for r in await connection.execute(query)]

    async def versions(self, name_or_id: str, *, workspace_id: str | None = None) -> list[dict[str, Any]]:
        """Every version of a workflow, newest first, with the plugin versions each pins."""
        async with self.database.engine.connect() as connection:
            row = await get_workflow_row(connection, name_or_id, workspace_id)
            rows = await connection.execute(
                select(
                    WORKFLOW_VERSION.c.version,
                    WORKFLOW_VERSION.c.digest,
                    WORKFLOW_VERSION.c.plugin_versions,
                    WORKFLOW_VERSION.c.created_at,
                )
                .where(WORKFLOW_VERSION.c.workflow_id == row.id)
                .order_by(WORKFLOW_VERSION.c.version.desc())
            )
            return [_row(r) for r in rows]

    async def delete(self, name_or_id: str, *, workspace_id: str | None = None) -> None:
        """Delete a workflow with its versions, schedules and history.

        Raises:
            ConfigurationError: It has runs in progress; cancel them first.
        """
        async with self.database.engine.connect() as connection:
            row = await get_workflow_row(connection, name_or_id, workspace_id)

        def remove(connection: Connection) -> None:
            live = connection.execute(
                select(func.count())
                .select_from(EXECUTION)
                .where(EXECUTION.c.workflow_id == row.id, EXECUTION.c.status.notin_(tuple(ExecutionStatus.TERMINAL)))
            ).scalar_one()
            if live:
                raise ConfigurationError(
                    f"workflow {row.name!r} has runs in progress; cancel them, then delete it",
                    details={"workflow": row.name},
                )
            state.delete_runs_of_workflow(connection, row.id)
            # Versions, schedules, fires and trigger cursors go by cascade.
            connection.execute(delete(WORKFLOW).where(WORKFLOW.c.id == row.id))

        await self.database.write(remove)

    # -- runs ----------------------------------------------------------------------------

    async def start(
        self,
        name_or_id: str,
        input: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        trigger: str = "manual",
        execution_id: str | None = None,
        workspace_id: str | None = None,
    ) -> str:
        """Queue a run of a workflow version (in ``workspace_id`` when given); returns the execution id.

        An ``execution_id`` that exists already is returned as is: starting is idempotent by id.

        Raises:
            BlobNotFound: The input refers to a blob the workflow's workspace was not given.
        """
        saved = await self.get(name_or_id, version, workspace_id=workspace_id)
        await self.grants.check(saved.workspace_id, input)
        run = state.NewRun(
            workflow_id=saved.workflow_id,
            workflow_version=saved.version,
            input=input or {},
            trigger=trigger,
            execution_id=execution_id or new_id(),
        )
        await self.database.write(lambda connection: state.enqueue_new(self.database, connection, [run]))
        execution_id = str(run.execution_id)
        self.engine.notify()
        return execution_id

    async def start_by_signal(
        self, name_or_id: str, signal: str, data: dict[str, Any], dedupe_key: str, *, workspace_id: str | None = None
    ) -> str:
        """Start a run of a workflow with a matching signal trigger; the same dedupe key starts one run.

        Raises:
            ConfigurationError: The workflow has no signal trigger for ``signal``.
        """
        saved = await self.get(name_or_id, workspace_id=workspace_id)
        if not any(isinstance(t, SignalTrigger) and t.signal == signal for t in saved.workflow.triggers):
            raise ConfigurationError(
                f"workflow {saved.name!r} has no signal trigger for {signal!r}; add "
                f'{{"type": "signal", "signal": "{signal}"}} to its triggers'
            )
        execution_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthral:start:{saved.workflow_id}:{signal}:{dedupe_key}"))
        return await self.start(
            saved.workflow_id, data, trigger="signal", execution_id=execution_id, workspace_id=workspace_id
        )

    async def execution(self, execution_id: str, *, workspace_id: str | None = None) -> ExecutionView:
        """An execution and every step attempt (of a workflow in ``workspace_id`` when given).

        Raises:
            ExecutionNotFound: No such execution (in that workspace).
        """
        query = select(EXECUTION).where(EXECUTION.c.id == execution_id)
        query = _in_workspace(query, workspace_id)
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(query)).first()
            if row is None:
                raise ExecutionNotFound(f"no execution {execution_id}", details={"execution_id": execution_id})
            steps = await connection.execute(
                select(STEP).where(STEP.c.execution_id == execution_id).order_by(STEP.c.id)
            )
            return ExecutionView(_row(row), [_row(step) for step in steps])

    async def executions(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        before: str | None = None,
        workspace_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Executions, newest first; ``before`` (an execution id) pages further back."""
        query = select(EXECUTION).order_by(EXECUTION.c.started_at.desc(), EXECUTION.c.id.desc()).limit(limit)
        query = _in_workspace(query, workspace_id)
        async with self.database.engine.connect() as connection:
            if workflow is not None:
                row = await get_workflow_row(connection, workflow, workspace_id)
                query = query.where(EXECUTION.c.workflow_id == row.id)
            if status is not None:
                query = query.where(EXECUTION.c.status == status)
            if before is not None:
                anchor = (
                    await connection.execute(
                        select(EXECUTION.c.started_at, EXECUTION.c.id).where(EXECUTION.c.id == before)
                    )
                ).first()
                if anchor is not None:
                    query = query.where(
                        (EXECUTION.c.started_at < anchor[0])
                        | ((EXECUTION.c.started_at == anchor[0]) & (EXECUTION.c.id < anchor[1]))
                    )
            return [_row(r) for r in await connection.execute(query)]

    # -- control -------------------------------------------------------------------------

    async def _status(self, execution_id: str, workspace_id: str | None) -> str:
        return (await self.execution(execution_id, workspace_id=workspace_id)).status

    async def pause(self, execution_id: str, *, workspace_id: str | None = None) -> None:
        """Pause at the next step boundary (a queued or waiting run pauses at once)."""
        status = await self._status(execution_id, workspace_id)
        if status in ExecutionStatus.TERMINAL:
            raise ConfigurationError(f"execution {execution_id} is {status}; only a live run can be paused")
        await self.database.write(lambda connection: state.request_pause(connection, execution_id))

    async def resume(self, execution_id: str, *, workspace_id: str | None = None) -> None:
        """Resume a paused run."""
        status = await self._status(execution_id, workspace_id)
        if status != ExecutionStatus.PAUSED:
            raise ConfigurationError(f"execution {execution_id} is {status}, not paused")
        await self.database.write(lambda connection: state.resume(connection, execution_id))
        self.engine.notify()

    async def cancel(self, execution_id: str, *, workspace_id: str | None = None) -> None:
        """Cancel a run: at once if nobody runs it, else its worker stops it."""
        status = await self._status(execution_id, workspace_id)
        if status in ExecutionStatus.TERMINAL:
            raise ConfigurationError(f"execution {execution_id} is {status} already")
        await self.database.write(lambda connection: state.request_cancel(connection, execution_id))

    async def signal(
        self,
        execution_id: str,
        *,
        signal_type: str = "custom",
        name: str = "",
        data: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
        workspace_id: str | None = None,
    ) -> bool:
        """Deliver a signal once per dedupe key; returns False for a duplicate.

        A ``human_input`` answer is checked against the form of the node waiting for it.

        Raises:
            InputInvalid: The answer does not satisfy the form.
            BlobNotFound: The data refers to a blob the run's workspace was not given.
        """
        view = await self.execution(execution_id, workspace_id=workspace_id)
        if view.status in ExecutionStatus.TERMINAL:
            raise ConfigurationError(f"execution {execution_id} is {view.status}; it takes no more signals")
        payload = data or {}
        if blob_refs(payload):  # the waiting step hands it to the nodes after it
            await self.grants.check(await self._workspace_of(str(view.execution["workflow_id"])), payload)
        if signal_type == "human_input":
            await self._check_answer(view, payload)
        key = dedupe_key or str(uuid.uuid4())
        delivered = await self.database.write(
            lambda connection: state.deliver_signal(
                self.database,
                connection,
                execution_id,
                signal_type=signal_type,
                name=name,
                data=payload,
                dedupe_key=key,
            )
        )
        self.engine.notify()
        return delivered

    async def _workspace_of(self, workflow_id: str) -> str | None:
        async with self.database.engine.connect() as connection:
            found = (
                await connection.execute(select(WORKFLOW.c.workspace_id).where(WORKFLOW.c.id == workflow_id))
            ).scalar()
        return None if found is None else str(found)

    async def _check_answer(self, view: ExecutionView, data: dict[str, Any]) -> None:
        waiting = view.execution.get("waiting_for") or {}
        if waiting.get("type") != HUMAN_INPUT:
            return
        saved = await self.get(view.execution["workflow_id"], view.execution["workflow_version"])
        node = saved.workflow.node(str(waiting["node"]))
        form = HumanInputConfig.model_validate(node.config).form
        answer = data.get("answer", data)
        try:
            jsonschema.validate(answer, form)
        except jsonschema.ValidationError as exc:
            path = ".".join(str(p) for p in exc.absolute_path) or "(answer)"
            raise InputInvalid(
                f"the answer to node '{node.id}' is not valid: field '{path}': {exc.message}",
                details={"node": node.id, "field": path},
            ) from None

    # -- replay --------------------------------------------------------------------------

    async def replay(
        self,
        execution_id: str,
        *,
        from_node: str | None = None,
        latest: bool = False,
        workspace_id: str | None = None,
    ) -> str:
        """Run a finished execution again, reusing recorded outputs.

        Without ``from_node`` the new run reuses every completed step, so it restarts at the
        step that failed. With ``from_node`` it reuses the steps of nodes that are not
        ``from_node`` or downstream of it. ``latest`` runs the workflow's latest version
        instead of the original one.

        Raises:
            ConfigurationError: The execution has not ended, or ``from_node`` is not a node.
        """
        view = await self.execution(execution_id, workspace_id=workspace_id)
        original = view.execution
        if original["status"] not in ExecutionStatus.TERMINAL:
            raise ConfigurationError(f"execution {execution_id} is {original['status']}; replay a finished run")
        saved = await self.get(original["workflow_id"], None if latest else int(original["workflow_version"]))
        node_ids = {node.id for node in saved.workflow.nodes}
        if from_node is not None and from_node not in node_ids:
            raise ConfigurationError(
                f"node {from_node!r} is not in version {saved.version}; its nodes are: {', '.join(sorted(node_ids))}"
            )
        skip = _downstream(saved.workflow, from_node) if from_node else set()
        reuse = [s for s in view.steps if s["status"] == StepStatus.COMPLETED and s["node_id"] in node_ids - skip]
        run = state.NewRun(
            workflow_id=saved.workflow_id,
            workflow_version=saved.version,
            input=original.get("input") or {},
            trigger="replay",
            replay_of=execution_id,
            state={"replayed": len(reuse), "from_node": from_node},
        )
        replay_id = await self.database.write(
            lambda connection: state.copy_for_replay(connection, run, reuse, execution_id)
        )
        self.engine.notify()
        return replay_id

    async def count(self, status: str | None = None) -> int:
        """How many executions (with ``status``)."""
        query = select(func.count()).select_from(EXECUTION)
        if status is not None:
            query = query.where(EXECUTION.c.status == status)
        async with self.database.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())


def _in_workspace(query: Any, workspace_id: str | None) -> Any:
    """``query`` over executions, narrowed to runs of ``workspace_id``'s workflows (None: no narrowing)."""
    if workspace_id is None:
        return query
    return query.join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id).where(WORKFLOW.c.workspace_id == workspace_id)


def _downstream(workflow: Workflow, start: str) -> set[str]:
    edges: dict[str, list[str]] = defaultdict(list)
    for edge in workflow.edges:
        edges[edge.source].append(edge.target)
    seen = {start}
    stack = [start]
    while stack:
        for target in edges[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen
