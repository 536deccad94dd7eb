"""What each kind of workflow node does when the graph runs it.

Every node function receives the LangGraph state and the run (in the config), renders its
input from templates, runs its work as a recorded step and returns its state update:
``{"node:<id>": {"output": ..., "branch": ..., "runs": n}}``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, cast

import jsonschema
import orjson
from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt
from sqlalchemy import select
from sqlalchemy.engine import Connection

from synthral.builtins.core import WaitConfig
from synthral.builtins.core import fire_at as fire_at_of
from synthral.engine import state
from synthral.engine.activity import StepFailed, StepRecord, pack_output, run_step, unpack_output
from synthral.engine.engine_nodes import HumanInputConfig, MapConfig, SubworkflowConfig, WaitSignalConfig
from synthral.engine.model import ERROR_OUTPUT, Node
from synthral.engine.ocr_node import OCRExtractConfig, ReadyEngine, extract
from synthral.engine.registry import HUMAN_INPUT, WAIT_SIGNAL, Behaviour, builtin
from synthral.engine.repository import start_child
from synthral.engine.retry import effective_policy
from synthral.engine.runtime import RunContext
from synthral.engine.templates import render
from synthral.errors import BlobNotFound, DatabaseUnavailable, InputInvalid, NonRetryableError, SynthralError
from synthral.plugins.proxy import RemoteCapability
from synthral.plugins.sandbox import blob_digests
from synthral.security.redact import Redactor, process_redactor
from synthral.store.blob_tables import granted_blobs
from synthral.store.tables import EXECUTION, SIGNAL, ExecutionStatus, StepStatus, utcnow
from synthral_sdk.types import JSONValue

__all__ = ["TRIGGER_KEY", "NodeFunction", "make_node", "state_key"]

TRIGGER_KEY = "trigger:input"
SHORT_SLEEP = 1.0
"""A wait this short sleeps in place; a longer one suspends the run and frees the worker."""

NodeFunction = Callable[[dict[str, Any], RunnableConfig], Awaitable[dict[str, Any]]]


def state_key(node_id: str) -> str:
    """The state channel of a node's result (':' cannot occur in node ids)."""
    return f"node:{node_id}"


def run_of(config: RunnableConfig) -> RunContext:
    """The run a graph invocation belongs to."""
    return cast(RunContext, config["configurable"]["__synthral_run"])


class _LazyOutputs(Mapping[str, Any]):
    """``nodes`` in templates: results of nodes that ran, outputs loaded from blobs on access."""

    def __init__(self, ctx: RunContext, state: Mapping[str, Any]) -> None:
        self._ctx = ctx
        self._state = state
        self._cache: dict[str, Any] = {}

    def __getitem__(self, node_id: str) -> Any:
        if node_id not in self._cache:
            result = self._state.get(state_key(node_id))
            if result is None:
                raise KeyError(node_id)
            self._cache[node_id] = {
                "output": unpack_output(self._ctx, result.get("output")),
                "branch": result.get("branch"),
                "runs": result.get("runs", 0),
            }
        return self._cache[node_id]

    def __iter__(self) -> Any:
        return (key.split(":", 1)[1] for key in self._state if key.startswith("node:"))

    def __len__(self) -> int:
        return sum(1 for key in self._state if key.startswith("node:"))


def scope_of(ctx: RunContext, state: Mapping[str, Any]) -> dict[str, Any]:
    """What templates see."""
    return {
        "nodes": _LazyOutputs(ctx, state),
        "trigger": state.get(TRIGGER_KEY) or {},
        "execution": {
            "id": ctx.execution_id,
            "workflow": ctx.workflow.name,
            "version": ctx.workflow_version,
            "started_at": ctx.started_at,
        },
    }


def default_input(node: Node, predecessors: list[str], state: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    """Input for a core node whose ``input`` is empty: the data of the node(s) before it."""

    def data_of(node_id: str) -> Any:
        result = state.get(state_key(node_id))
        output = unpack_output(ctx, result.get("output")) if result else None
        return output.get("data", output) if isinstance(output, dict) else output

    record = builtin(node.type)
    if record is not None and record.joins:
        return {"inputs": [data_of(p) for p in predecessors if state_key(p) in state]}
    ran = [p for p in predecessors if state_key(p) in state]
    if ran:
        return {"data": data_of(ran[-1])}
    return {"data": state.get(TRIGGER_KEY) or {}}


def _result(node: Node, state: Mapping[str, Any], stored: Any, branch: str | None) -> dict[str, Any]:
    previous = state.get(state_key(node.id)) or {}
    return {state_key(node.id): {"output": stored, "branch": branch, "runs": int(previous.get("runs", 0)) + 1}}


def _iteration(node: Node, state: Mapping[str, Any]) -> str:
    previous = state.get(state_key(node.id)) or {}
    return str(previous.get("runs", 0))


def make_node(node: Node, predecessors: list[str], *, routes_errors: bool = False) -> NodeFunction:
    """The function LangGraph runs for ``node``, chosen by how its type's record says it runs.

    With ``routes_errors`` (the workflow has an ``error`` edge out of the node), a failure of
    the node after its retries becomes its result on the ``error`` output instead of failing
    the run: ``{"error": {"type", "message", "node", "attempts"}}``.
    """
    record = builtin(node.type)
    function = _BUILDERS[record.behaviour if record is not None else Behaviour.CALL](node, predecessors)
    return _routing_errors(node, function) if routes_errors else function


def _routing_errors(node: Node, function: NodeFunction) -> NodeFunction:
    async def run(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        try:
            return await function(state, config)
        except StepFailed as failure:
            ctx = run_of(config)
            error = {
                "type": failure.error.error_type,
                "message": failure.error.message,
                "node": node.id,
                "attempts": failure.attempts,
            }
            ctx.log_now(node.id, "warning", f"failed ({error['type']}: {error['message']}); following its error edge")
            return _result(node, state, {"error": error}, ERROR_OUTPUT)

    return run


def _render_input(node: Node, predecessors: list[str], state: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    """The node's input for this run; a template that fails fails the step, naming the node."""
    record = builtin(node.type)
    if not node.input and record is not None and record.default_input:
        return default_input(node, predecessors, state, ctx)
    try:
        rendered = render(node.input, scope_of(ctx, state), where=f"node '{node.id}' input")
    except SynthralError as exc:
        raise StepFailed(node.id, exc, 0) from exc
    if not isinstance(rendered, dict):
        raise StepFailed(node.id, InputInvalid(f"node '{node.id}': its input must render to an object"), 0)
    return rendered


def _resolve(ctx: RunContext, node_type: str, pinned: str | None) -> Any:
    plugin = node_type.split("/", 1)[0]
    version = pinned or ctx.plugin_pins.get(plugin)
    cache_key = f"{node_type}@{version}"
    if cache_key not in ctx.handles:
        ctx.handles[cache_key] = ctx.engine.plugins.resolve(node_type, version=version)
    return ctx.handles[cache_key]


_BLOB_KEY = b'"$blob"'


async def _check_blobs(ctx: RunContext, node_id: str, config: Any, payload: Any) -> None:
    """Refuse to hand a plugin a blob its run's workspace was not granted.

    Data moves between steps of a run unchecked: a reference a step copied out of outside
    data (never granted, see :func:`synthral.engine.activity._provable`) would otherwise be
    handed to the next plugin, which reads the file it names.

    Raises:
        BlobNotFound: A reference in the step's config or input names such a blob.
    """
    if ctx.workspace_id is None:
        return
    if _BLOB_KEY not in orjson.dumps([config, payload], default=str):
        return  # most steps hand no file: the search is skipped
    wanted = {f"sha256:{digest}" for digest in blob_digests([config, payload])}
    if not wanted:
        return
    async with ctx.engine.database.engine.connect() as connection:
        workspace = ctx.workspace_id
        have = await connection.run_sync(lambda sync: granted_blobs(sync, workspace, wanted))
    missing = sorted(wanted - have)
    if missing:
        raise BlobNotFound(
            f"node '{node_id}' was to be handed blob {missing[0][:19]}…, which this workspace was never given (a "
            "reference a step copied from outside data names nothing the workspace may read); pass files the run "
            "was given or made, or upload the file in this workspace first (POST /api/v1/blobs)",
            details={"node": node_id, "digests": list[JSONValue](missing[:20])},
        )


async def _invoke(
    ctx: RunContext,
    node: Node,
    *,
    node_type: str,
    config: dict[str, Any],
    payload: dict[str, Any],
    iteration: str,
    operation: str | None,
    pinned: str | None,
) -> Any:
    handle = _resolve(ctx, node_type, pinned)
    operations = handle.spec().operations
    op = operation or (next(iter(operations)) if len(operations) == 1 else None)
    if op is None:
        raise InputInvalid(f"node '{node.id}': {node_type} has several operations; set 'operation'")
    redactor = Redactor()

    async def call(attempt: int, key: str) -> Any:
        # Resolved per attempt, so a missing secret fails the step (recorded, naming it), and
        # masked from what the attempt leaves behind: its output, its error, the log lines.
        secrets = await ctx.secrets_for(node.secrets)
        redactor.add(*secrets.values())
        process_redactor.add(*secrets.values())  # and from this process's logs
        if secrets and isinstance(handle, RemoteCapability):  # only credentials of kinds it was granted
            handle.check_credentials(await ctx.secret_kinds_for(node.secrets))
        services = ctx.engine.step_services
        host, events = (None, None)
        if services is not None:  # what the step may ask of the host: an LLM, an agent run, live events
            host, events = services.for_step(
                ctx, node_id=node.id, node_type=node_type, config=config, key=key, attempt=attempt,
                secrets=secrets, redactor=redactor, timeout=node.timeout,
            )  # fmt: skip
        context = ctx.engine.plugins.context(
            timeout=node.timeout,
            secrets=secrets,
            execution_id=ctx.execution_id,
            node_id=node.id,
            attempt=attempt,
            idempotency_key=key,
            events=events,
            host=host,
            workspace_id=ctx.workspace_id,  # the workspace's network policy
        )
        await _check_blobs(ctx, node.id, config, payload)
        return await handle.call(op, config, payload, context)

    return await run_step(
        ctx,
        node_id=node.id,
        node_type=node_type,
        iteration=iteration,
        policy=effective_policy(node.retry, ctx.workflow.settings.retry, defaults=ctx.engine.settings),
        step_input=payload,
        call=call,
        durable_start=isinstance(handle, RemoteCapability),
        timeout=node.timeout,
        redactor=redactor,
    )


def _capability_node(node: Node, predecessors: list[str]) -> NodeFunction:
    async def run(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        ctx = run_of(config)
        ctx.check_control()
        payload = _render_input(node, predecessors, state, ctx)
        output = await _invoke(
            ctx,
            node,
            node_type=node.type,
            config=node.config,
            payload=payload,
            iteration=_iteration(node, state),
            operation=node.operation,
            pinned=node.version,
        )
        routes = _resolve(ctx, node.type, node.version).spec().handles.routes
        branch = output.get("branch") if routes and isinstance(output, dict) else None
        return _result(node, state, pack_output(ctx, output), branch)

    return run


# -- durable timers ----------------------------------------------------------------------


def _timer_node(node: Node, predecessors: list[str]) -> NodeFunction:
    async def run(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        ctx = run_of(config)
        ctx.check_control()
        iteration = _iteration(node, state)
        payload = _render_input(node, predecessors, state, ctx)
        record = ctx.history.get((node.id, iteration))
        if record is not None and record.completed:
            return _result(node, state, record.output, None)
        if record is not None and "fire_at" in record.extra:
            fire_at = datetime.fromisoformat(str(record.extra["fire_at"]))
        else:
            fire_at = fire_at_of(WaitConfig.model_validate(node.config), utcnow())
            await _wait_row(ctx, node, iteration, {"fire_at": fire_at.isoformat()}, payload)
        waiting_for = {"kind": "timer", "node": node.id, "fire_at": fire_at.isoformat()}
        while (fire_at - utcnow()).total_seconds() > SHORT_SLEEP:
            _suspend(ctx, waiting_for, fire_at)
        remaining = (fire_at - utcnow()).total_seconds()
        if remaining > 0:
            await asyncio.sleep(remaining)  # close to the time: wait here, and never fire early
        output = {"data": payload.get("data"), "fired_at": utcnow().isoformat(), "scheduled_for": fire_at.isoformat()}
        ctx.defer(lambda c: _complete_wait_row(c, ctx, node.id, iteration, output))
        ctx.history[(node.id, iteration)] = StepRecord(attempts=1, output=output, completed=True)
        return _result(node, state, output, None)

    return run


async def _wait_row(
    ctx: RunContext, node: Node, iteration: str, extra: dict[str, Any], payload: dict[str, Any]
) -> None:
    """Record that a step waits (with what it waits for), so a later run finds the same deadline."""
    key = f"{ctx.execution_id}/{node.id}/{iteration}"
    row = {
        "execution_id": ctx.execution_id,
        "node_id": node.id,
        "node_type": node.type,
        "iteration": iteration,
        "attempt": 1,
        "status": StepStatus.WAITING,
        "idempotency_key": key,
        "input": payload,
        "output": extra,
        "started_at": utcnow(),
        "worker": ctx.worker,
        "fencing_token": ctx.fencing_token,
    }
    database = ctx.engine.database
    ctx.count_step(node.id)
    ctx.defer(lambda c: state.record_wait(database, c, row))
    ctx.history[(node.id, iteration)] = StepRecord(attempts=1, extra=extra)


def _complete_wait_row(connection: Connection, ctx: RunContext, node_id: str, iteration: str, output: Any) -> None:
    state.complete_wait(connection, ctx.execution_id, node_id, iteration, output)


def _suspend(ctx: RunContext, waiting_for: dict[str, Any], wake_at: datetime | None) -> None:
    """Suspend the run until woken (a LangGraph interrupt; the run's row says what it waits for).

    Returns when the run is resumed. The caller checks again whether what it waits for has
    come, and suspends again if not (a node may interrupt several times).
    """
    ctx.defer(lambda c: state.suspend(c, ctx.execution_id, waiting_for, wake_at))
    interrupt(waiting_for)


# -- signals: human input and named signals ----------------------------------------------


async def _take_signal(ctx: RunContext, node: Node) -> dict[str, Any] | None:
    if node.type == HUMAN_INPUT:
        condition = SIGNAL.c.signal_type == "human_input"
    else:
        condition = SIGNAL.c.name == WaitSignalConfig.model_validate(node.config).signal
    async with ctx.engine.database.engine.connect() as connection:
        row = (
            await connection.execute(
                select(SIGNAL.c.id, SIGNAL.c.signal_data, SIGNAL.c.dedupe_key)
                .where(SIGNAL.c.execution_id == ctx.execution_id, SIGNAL.c.processed.is_(False), condition)
                .order_by(SIGNAL.c.received_at)
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    return {"id": row[0], "data": row[1] or {}, "dedupe_key": row[2]}


def _signal_node(node: Node, predecessors: list[str]) -> NodeFunction:
    async def run(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        ctx = run_of(config)
        ctx.check_control()
        iteration = _iteration(node, state)
        record = ctx.history.get((node.id, iteration))
        if record is not None and record.completed:
            return _result(node, state, record.output, None)
        payload = _render_input(node, predecessors, state, ctx) if node.input else {}
        timeout = node.config.get("timeout")
        if record is None or "since" not in record.extra:
            extra: dict[str, Any] = {"since": utcnow().isoformat()}
            if isinstance(timeout, int | float):
                extra["deadline"] = (utcnow() + timedelta(seconds=float(timeout))).isoformat()
            await _wait_row(ctx, node, iteration, extra, payload)
            record = ctx.history[(node.id, iteration)]
        while True:
            signal = await _take_signal(ctx, node)
            if signal is not None:
                output = _accept_signal(ctx, node, signal)
                if output is not None:
                    break
                continue
            deadline = record.extra.get("deadline")
            if deadline and utcnow() >= datetime.fromisoformat(str(deadline)):
                raise StepFailed(
                    node.id,
                    NonRetryableError(
                        f"node '{node.id}' waited {timeout} s and no signal came", error_type="SignalTimeout"
                    ),
                    1,
                )
            wake = datetime.fromisoformat(str(deadline)) if deadline else None
            _suspend(
                ctx, {"kind": "signal", "node": node.id, "type": node.type, "signal": node.config.get("signal")}, wake
            )
        key = f"{ctx.execution_id}/{node.id}/{iteration}"
        ctx.defer(lambda c: _consume(c, str(signal["id"]), key))
        ctx.defer(lambda c: _complete_wait_row(c, ctx, node.id, iteration, output))
        ctx.history[(node.id, iteration)] = StepRecord(attempts=1, output=output, completed=True)
        return _result(node, state, output, None)

    return run


def _accept_signal(ctx: RunContext, node: Node, signal: dict[str, Any]) -> dict[str, Any] | None:
    data = signal["data"]
    if node.type == WAIT_SIGNAL:
        return {"data": data}
    form = HumanInputConfig.model_validate(node.config).form
    answer = data.get("answer", data) if isinstance(data, dict) else data
    try:
        jsonschema.validate(answer, form)
    except jsonschema.ValidationError as exc:
        # A wrong answer is consumed and logged; the node keeps waiting for a valid one.
        reason = exc.message
        ctx.defer(lambda c: _consume(c, str(signal["id"]), f"rejected: {reason}"[:250]))
        ctx.log_now(node.id, "warning", f"an answer was rejected: {reason}")
        return None
    return {"answer": answer, "answered_by": data.get("answered_by") if isinstance(data, dict) else None}


def _consume(connection: Connection, signal_id: str, by: str) -> None:
    state.consume_signal(connection, signal_id, by)


# -- sub-workflows ------------------------------------------------------------------------


def _subworkflow_node(node: Node, predecessors: list[str]) -> NodeFunction:
    config_model = SubworkflowConfig.model_validate(node.config)

    async def run(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        ctx = run_of(config)
        ctx.check_control()
        iteration = _iteration(node, state)
        record = ctx.history.get((node.id, iteration))
        if record is not None and record.completed:
            return _result(node, state, record.output, None)
        payload = _render_input(node, predecessors, state, ctx)
        child_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthral:{ctx.execution_id}/{node.id}/{iteration}"))
        async with ctx.engine.database.engine.connect() as connection:
            child = (await connection.execute(select(EXECUTION.c.id).where(EXECUTION.c.id == child_id))).first()
        waiting_for = {"kind": "child", "node": node.id, "child": child_id}
        if child is None:
            await _wait_row(ctx, node, iteration, {"child": child_id}, payload)
            await start_child(ctx, config_model, child_id, node.id, payload)
            if not config_model.wait:
                output: dict[str, Any] = {"execution_id": child_id, "status": ExecutionStatus.QUEUED, "output": None}
                ctx.defer(lambda c: _complete_wait_row(c, ctx, node.id, iteration, output))
                return _result(node, state, output, None)
            _suspend(ctx, waiting_for, None)
        while True:
            async with ctx.engine.database.engine.connect() as connection:
                child = (
                    await connection.execute(
                        select(EXECUTION.c.status, EXECUTION.c.output, EXECUTION.c.error_message).where(
                            EXECUTION.c.id == child_id
                        )
                    )
                ).first()
            status, child_output, child_error = child if child is not None else (ExecutionStatus.QUEUED, None, None)
            if status in ExecutionStatus.TERMINAL:
                break
            _suspend(ctx, waiting_for, None)
        if status != ExecutionStatus.COMPLETED:
            raise StepFailed(
                node.id,
                NonRetryableError(
                    f"sub-workflow '{config_model.workflow}' ({child_id}) ended {status}: {child_error or ''}",
                    error_type="SubworkflowFailed",
                    details={"execution_id": child_id},
                ),
                1,
            )
        output = {"execution_id": child_id, "status": status, "output": child_output}
        ctx.defer(lambda c: _complete_wait_row(c, ctx, node.id, iteration, output))
        ctx.history[(node.id, iteration)] = StepRecord(attempts=1, output=output, completed=True)
        return _result(node, state, output, None)

    return run


# -- map: one capability per item ----------------------------------------------------------


def _map_node(node: Node, predecessors: list[str]) -> NodeFunction:
    spec = MapConfig.model_validate(node.config)

    async def run(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        ctx = run_of(config)
        ctx.check_control()
        iteration = _iteration(node, state)
        payload = _render_input(node, predecessors, state, ctx)
        items = payload.get("items")
        if not isinstance(items, list):
            raise StepFailed(node.id, InputInvalid(f"node '{node.id}': input 'items' must render to a list"), 1)
        scope = scope_of(ctx, state)
        gate = asyncio.Semaphore(spec.concurrency)

        async def one(index: int, item: Any) -> Any:
            async with gate:
                try:
                    item_input = render(
                        spec.input, {**scope, "item": item, "index": index}, where=f"node '{node.id}' item {index}"
                    )
                except SynthralError as exc:
                    raise StepFailed(node.id, exc, 0) from exc
                if not isinstance(item_input, dict):
                    raise InputInvalid(f"node '{node.id}': the per-item input must render to an object")
                result = await _invoke(
                    ctx,
                    node,
                    node_type=spec.type,
                    config=spec.config,
                    payload=item_input,
                    iteration=f"{iteration}:{index}",
                    operation=spec.operation,
                    pinned=None,
                )
                await ctx.write_now(_noop)  # commit the item now: a crash later never re-runs it
                return result

        results = await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        return _result(node, state, pack_output(ctx, {"results": list(results)}), None)

    return run


# -- ocr/extract: the OCR router ------------------------------------------------------------


def _ocr_node(node: Node, predecessors: list[str]) -> NodeFunction:
    spec = OCRExtractConfig.model_validate(node.config)

    async def run(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        ctx = run_of(config)
        ctx.check_control()
        iteration = _iteration(node, state)
        payload = _render_input(node, predecessors, state, ctx)

        async def invoke(engine: ReadyEngine, request: dict[str, Any], label: str) -> Any:
            # Each document and engine is its own recorded step: a crash never reads it twice.
            try:
                return await _invoke(
                    ctx,
                    node,
                    node_type=engine.ref,
                    config=dict(engine.config),
                    payload=request,
                    iteration=f"{iteration}:{label}",
                    operation="recognize",
                    pinned=None,
                )
            except StepFailed as exc:
                raise exc.error from exc

        try:
            output = await extract(
                node_id=node.id,
                config=spec,
                payload=payload,
                specs=[(entry.plugin, entry.spec) for entry in ctx.engine.plugins.catalog()],
                invoke=invoke,
                write=ctx.write_now,
                blobs=ctx.engine.blobs,
                default_job_id=str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"synthral:ocr:{ctx.execution_id}:{node.id}:{iteration}")
                ),
                execution_id=ctx.execution_id,
                workspace_id=ctx.workspace_id,
            )
        except DatabaseUnavailable:
            raise  # an interruption: the run resumes from its checkpoint, nothing counted
        except SynthralError as exc:
            raise StepFailed(node.id, exc, 1) from exc
        return _result(node, state, pack_output(ctx, output.model_dump(mode="json")), None)

    return run


def _noop(connection: Connection) -> None:
    del connection


_BUILDERS: Final[Mapping[Behaviour, Callable[[Node, list[str]], NodeFunction]]] = {
    Behaviour.CALL: _capability_node,
    Behaviour.TIMER: _timer_node,
    Behaviour.SIGNAL: _signal_node,
    Behaviour.SUBWORKFLOW: _subworkflow_node,
    Behaviour.MAP: _map_node,
    Behaviour.OCR: _ocr_node,
}
"""The node function of each behaviour a node type's record names."""
