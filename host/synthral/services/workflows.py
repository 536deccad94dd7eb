"""Workflow use cases, shared by the CLI and the API: save, run, inspect, control, replay."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonschema
from sqlalchemy import delete, func, insert, select, update

from synthral.engine import queue
from synthral.engine.engine_nodes import HumanInputConfig
from synthral.engine.model import ENGINE_NODE_TYPES, SignalTrigger, Workflow
from synthral.engine.repository import SavedVersion, get_version, get_workflow_row, save_workflow
from synthral.engine.runtime import Engine
from synthral.engine.schedules import sync_schedules
from synthral.engine.validate import SpecCatalog, ensure_valid
from synthral.errors import ConfigurationError, InputInvalid, SynthralError
from synthral.plugins.host import PluginHost
from synthral.plugins.proxy import RemoteCapability
from synthral.store.db import Database
from synthral.store.models import (
    CheckpointBlob,
    CheckpointRow,
    CheckpointWrite,
    ExecutionStatus,
    Step,
    StepStatus,
    WorkflowExecution,
    WorkflowVersion,
    utcnow,
)
from synthral.store.models import Workflow as WorkflowRow
from synthral_sdk import CapabilitySpec

__all__ = ["ExecutionNotFound", "ExecutionView", "WorkflowService"]

EXEC = WorkflowExecution.__table__  # type: ignore[attr-defined]
WF = WorkflowRow.__table__  # type: ignore[attr-defined]
VERSION = WorkflowVersion.__table__  # type: ignore[attr-defined]
CHECKPOINT_TABLES = tuple(m.__table__ for m in (CheckpointWrite, CheckpointBlob, CheckpointRow))  # type: ignore[union-attr]
_SUMMARY = (WF.c.id, WF.c.name, WF.c.description, WF.c.version, WF.c.is_active, WF.c.created_at, WF.c.updated_at)
STEP = Step.__table__  # type: ignore[attr-defined]


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
    data = dict(row._mapping)  # noqa: SLF001 -- SQLAlchemy's documented row-as-mapping accessor
    for key, value in data.items():
        if isinstance(value, datetime):
            # SQLite hands times back without their zone; everything is stored in UTC.
            data[key] = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return data


class WorkflowService:
    """The workflow use cases over one database, plugin host and engine."""

    def __init__(self, database: Database, plugins: PluginHost, engine: Engine) -> None:
        self.database = database
        self.plugins = plugins
        self.engine = engine

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
            inner = node.config.get("type") if node.type == "engine/map" else None
            if isinstance(inner, str):
                types.append(inner)
            for node_type in types:
                if node_type.startswith("engine/") or node_type in ENGINE_NODE_TYPES:
                    continue
                handle = self.plugins.resolve(node_type, node.version)
                if isinstance(handle, RemoteCapability):
                    pins[node_type.split("/", 1)[0]] = handle.process.options.version
        return pins

    async def save(
        self, workflow: Workflow, *, workspace_id: str | None = None, owner_id: str | None = None
    ) -> SavedVersion:
        """Validate and store a workflow; a changed graph (or plugin set) becomes a new version.

        Raises:
            WorkflowInvalid: Every problem found, each naming its node.
        """
        ensure_valid(workflow, self._lookup, known_types=SpecCatalog.from_entries(self.plugins.catalog()).types)
        pins = self._pins(workflow)
        async with self.database.transaction() as connection:
            saved = await save_workflow(connection, workflow, pins, owner_id=owner_id, workspace_id=workspace_id)
            await sync_schedules(connection, saved.workflow_id, workflow)
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
        scope = WF.c.workspace_id.is_(None) if workspace_id is None else WF.c.workspace_id == workspace_id
        query = select(*_SUMMARY).where(scope).order_by(WF.c.name).limit(limit)
        if after is not None:
            query = query.where(WF.c.name > after)
        async with self.database.engine.connect() as connection:
            return [_row(r) for r in await connection.execute(query)]

    async def versions(self, name_or_id: str, *, workspace_id: str | None = None) -> list[dict[str, Any]]:
        """Every version of a workflow, newest first, with the plugin versions each pins."""
        async with self.database.engine.connect() as connection:
            row = await get_workflow_row(connection, name_or_id, workspace_id)
            rows = await connection.execute(
                select(VERSION.c.version, VERSION.c.digest, VERSION.c.plugin_versions, VERSION.c.created_at)
                .where(VERSION.c.workflow_id == row.id)
                .order_by(VERSION.c.version.desc())
            )
            return [_row(r) for r in rows]

    async def delete(self, name_or_id: str, *, workspace_id: str | None = None) -> None:
        """Delete a workflow with its versions, schedules and history.

        Raises:
            ConfigurationError: It has runs in progress; cancel them first.
        """
        async with self.database.transaction() as connection:
            row = await get_workflow_row(connection, name_or_id, workspace_id)
            live = await connection.execute(
                select(func.count())
                .select_from(EXEC)
                .where(EXEC.c.workflow_id == row.id, EXEC.c.status.notin_(tuple(ExecutionStatus.TERMINAL)))
            )
            if live.scalar_one():
                raise ConfigurationError(
                    f"workflow {row.name!r} has runs in progress; cancel them, then delete it",
                    details={"workflow": row.name},
                )
            runs = (await connection.execute(select(EXEC.c.id).where(EXEC.c.workflow_id == row.id))).scalars().all()
            for table in CHECKPOINT_TABLES:
                await connection.execute(delete(table).where(table.c.thread_id.in_(runs)))
            # Runs, their steps, logs and signals, versions, schedules and fires go by cascade.
            await connection.execute(delete(EXEC).where(EXEC.c.workflow_id == row.id))
            await connection.execute(delete(WF).where(WF.c.id == row.id))

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
        """
        async with self.database.transaction() as connection:
            row = await get_workflow_row(connection, name_or_id, workspace_id)
            saved = await get_version(connection, row.id, version)
            if execution_id is not None:
                existing = (await connection.execute(select(EXEC.c.id).where(EXEC.c.id == execution_id))).first()
                if existing is not None:
                    return execution_id
            execution_id = await queue.enqueue(
                connection,
                workflow_id=saved.workflow_id,
                workflow_version=saved.version,
                input=input or {},
                trigger=trigger,
                execution_id=execution_id,
            )
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
        query = select(EXEC).where(EXEC.c.id == execution_id)
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
        query = select(EXEC).order_by(EXEC.c.started_at.desc(), EXEC.c.id.desc()).limit(limit)
        query = _in_workspace(query, workspace_id)
        async with self.database.engine.connect() as connection:
            if workflow is not None:
                row = await get_workflow_row(connection, workflow, workspace_id)
                query = query.where(EXEC.c.workflow_id == row.id)
            if status is not None:
                query = query.where(EXEC.c.status == status)
            if before is not None:
                anchor = (
                    await connection.execute(select(EXEC.c.started_at, EXEC.c.id).where(EXEC.c.id == before))
                ).first()
                if anchor is not None:
                    query = query.where(
                        (EXEC.c.started_at < anchor[0]) | ((EXEC.c.started_at == anchor[0]) & (EXEC.c.id < anchor[1]))
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
        async with self.database.transaction() as connection:
            await connection.execute(update(EXEC).where(EXEC.c.id == execution_id).values(pause_requested=True))
            await connection.execute(
                update(EXEC)
                .where(
                    EXEC.c.id == execution_id,
                    EXEC.c.status.in_((ExecutionStatus.QUEUED, ExecutionStatus.WAITING)),
                    EXEC.c.lease_owner.is_(None),
                )
                .values(status=ExecutionStatus.PAUSED, next_run_at=None)
            )

    async def resume(self, execution_id: str, *, workspace_id: str | None = None) -> None:
        """Resume a paused run."""
        status = await self._status(execution_id, workspace_id)
        if status != ExecutionStatus.PAUSED:
            raise ConfigurationError(f"execution {execution_id} is {status}, not paused")
        async with self.database.transaction() as connection:
            await connection.execute(
                update(EXEC)
                .where(EXEC.c.id == execution_id, EXEC.c.status == ExecutionStatus.PAUSED)
                .values(status=ExecutionStatus.QUEUED, pause_requested=False, next_run_at=utcnow())
            )
        self.engine.notify()

    async def cancel(self, execution_id: str, *, workspace_id: str | None = None) -> None:
        """Cancel a run: at once if nobody runs it, else its worker stops it."""
        status = await self._status(execution_id, workspace_id)
        if status in ExecutionStatus.TERMINAL:
            raise ConfigurationError(f"execution {execution_id} is {status} already")
        async with self.database.transaction() as connection:
            await connection.execute(update(EXEC).where(EXEC.c.id == execution_id).values(cancel_requested=True))
            await connection.execute(
                update(EXEC)
                .where(
                    EXEC.c.id == execution_id,
                    EXEC.c.lease_owner.is_(None),
                    EXEC.c.status.notin_(tuple(ExecutionStatus.TERMINAL)),
                )
                .values(status=ExecutionStatus.CANCELLED, next_run_at=None, completed_at=utcnow())
            )

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
        """
        view = await self.execution(execution_id, workspace_id=workspace_id)
        if view.status in ExecutionStatus.TERMINAL:
            raise ConfigurationError(f"execution {execution_id} is {view.status}; it takes no more signals")
        payload = data or {}
        if signal_type == "human_input":
            await self._check_answer(view, payload)
        async with self.database.transaction() as connection:
            delivered = await queue.deliver_signal(
                self.database,
                connection,
                execution_id,
                signal_type=signal_type,
                name=name,
                data=payload,
                dedupe_key=dedupe_key or str(uuid.uuid4()),
            )
        self.engine.notify()
        return delivered

    async def _check_answer(self, view: ExecutionView, data: dict[str, Any]) -> None:
        waiting = view.execution.get("waiting_for") or {}
        if waiting.get("type") != "engine/human_input":
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
        async with self.database.transaction() as connection:
            new_id = await queue.enqueue(
                connection,
                workflow_id=saved.workflow_id,
                workflow_version=saved.version,
                input=original.get("input") or {},
                trigger="replay",
                replay_of=execution_id,
                state={"replayed": len(reuse), "from_node": from_node},
            )
            if reuse:
                await connection.execute(
                    insert(STEP),
                    [
                        {
                            "execution_id": new_id,
                            "node_id": s["node_id"],
                            "node_type": s["node_type"],
                            "iteration": s["iteration"],
                            "attempt": 1,
                            "status": StepStatus.COMPLETED,
                            "idempotency_key": f"{new_id}/{s['node_id']}/{s['iteration']}",
                            "input": s["input"],
                            "output": s["output"],
                            "started_at": utcnow(),
                            "finished_at": utcnow(),
                            "duration_ms": 0.0,
                            "fencing_token": 0,
                            "replayed_from": execution_id,
                        }
                        for s in reuse
                    ],
                )
        self.engine.notify()
        return new_id

    async def count(self, status: str | None = None) -> int:
        """How many executions (with ``status``)."""
        query = select(func.count()).select_from(EXEC)
        if status is not None:
            query = query.where(EXEC.c.status == status)
        async with self.database.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())


def _in_workspace(query: Any, workspace_id: str | None) -> Any:
    """``query`` over executions, narrowed to runs of ``workspace_id``'s workflows (None: no narrowing)."""
    if workspace_id is None:
        return query
    return query.join(WF, WF.c.id == EXEC.c.workflow_id).where(WF.c.workspace_id == workspace_id)


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
