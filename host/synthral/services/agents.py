"""Agent tasks: route, run on a framework plugin, answer its callbacks, record every step, hold budgets.

An ``agent/run`` step asks :meth:`AgentService.run_step`. The router picks an installed
framework; the task gets an ``agent_task`` row (found again by the step's idempotency key
when the step is retried or resumed); the framework plugin is invoked with an
:class:`AgentSession` as its host services. Every LLM call and tool call the framework
asks for goes through the session, which checks the grants and the budget, records the
call in ``agent_task_log`` and emits a live event. A resumed task replays: LLM answers and
tool results recorded by the earlier attempt are returned without calling anything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import jsonschema
import orjson
from sqlalchemy import func, insert, select, update

from synthral.errors import ConfigurationError, InvocationTimeout, NonRetryableError, NotFound, SynthralError
from synthral.plugins.host import PluginHost
from synthral.security.redact import Redactor
from synthral.services.agent_models import AgentConfig, AgentInput
from synthral.services.agent_router import FrameworkInfo, RoutingDecision, decide
from synthral.services.agent_tools import ToolBox, WorkflowRunner, bounded
from synthral.services.batch import BatchInsert
from synthral.services.llm import CallScope, LLMChoice, LLMService
from synthral.store.ai_tables import AGENT_TASK, AGENT_TASK_LOG, AgentTaskStatus
from synthral.store.db import Database
from synthral.store.tables import utcnow
from synthral_sdk import (
    AgentBudget,
    AgentRequest,
    AgentResult,
    AgentStep,
    CapabilityKind,
    CompletionRequest,
    CompletionResult,
    ToolCall,
    ToolResult,
)
from synthral_sdk.context import EventSink
from synthral_sdk.errors import BudgetExceeded
from synthral_sdk.types import JSONObject

if TYPE_CHECKING:
    from synthral.services.ai import StepHost

__all__ = ["AgentService", "AgentSession", "Replay", "agent_request", "record_digest", "structured_data", "task_id_for"]

AGENT_EVENT: Final = "agent.step"
DURABLE_KINDS: Final = frozenset({"route", "tool_call", "tool_result", "budget"})
"""Log rows committed before the task goes on; the others are written in batches."""


def task_id_for(key: str) -> str:
    """The agent task of a step, from its idempotency key (stable across attempts)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthral:agent-task:{key}"))


def record_digest(value: Any) -> str:
    """How a request is known in the record: an LLM request's or a tool call's arguments' digest."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@dataclass
class Spend:
    """What a task has used so far."""

    steps: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    replayed: int = 0

    def wire(self) -> JSONObject:
        """JSON for the task row."""
        return {
            "steps": self.steps,
            "llm_calls": self.llm_calls,
            "tool_calls": self.tool_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 8),
            "replayed": self.replayed,
        }


@dataclass
class Replay:
    """What an earlier attempt of the task recorded, answered again in order."""

    llm: deque[tuple[str, JSONObject]] = field(default_factory=deque)
    tools: list[tuple[str, str, JSONObject]] = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: list[Any]) -> Replay:
        """Build from ``agent_task_log`` rows, oldest first."""
        replay = cls()
        for row in rows:
            data = row.data or {}
            if row.kind == "llm_call" and "result" in data:
                replay.llm.append((str(data["request"]), data))
            elif row.kind == "tool_result" and data.get("replayable"):
                replay.tools.append((str(data["name"]), str(data["arguments"]), data["result"]))
        return replay

    def llm_answer(self, request_digest: str) -> JSONObject | None:
        """The recorded answer to the next LLM request, if the request is the one recorded."""
        if self.llm and self.llm[0][0] == request_digest:
            return self.llm.popleft()[1]
        self.llm.clear()  # the conversation went another way: from here on the model is asked
        return None

    def tool_result(self, name: str, arguments_digest: str) -> JSONObject | None:
        """The recorded result of the same call of the same tool, once."""
        for index, (recorded, digest, result) in enumerate(self.tools):
            if recorded == name and digest == arguments_digest:
                del self.tools[index]
                return result
        return None


class AgentSession:
    """The host services of one attempt of one agent task: grants, budget, record, replay."""

    def __init__(
        self,
        service: AgentService,
        *,
        task_id: str,
        attempt: int,
        first_seq: int,
        budget: AgentBudget,
        choice: LLMChoice,
        secrets: dict[str, str],
        scope: CallScope,
        toolbox: ToolBox,
        replay: Replay,
        events: EventSink | None,
        redactor: Redactor,
    ) -> None:
        self.service = service
        self.task_id = task_id
        self.attempt = attempt
        self.seq = first_seq
        self.budget = budget
        self.choice = choice
        self.secrets = secrets
        self.scope = scope
        self.toolbox = toolbox
        self.replay = replay
        self.events = events
        self.redactor = redactor
        self.spend = Spend()
        self.failure: BudgetExceeded | None = None
        self.exhausted = asyncio.Event()
        self.started = time.monotonic()

    # -- budget --------------------------------------------------------------------------

    def remaining(self) -> float | None:
        """Seconds of wall time left, if the budget has a limit."""
        if self.budget.max_seconds is None:
            return None
        return max(0.0, self.budget.max_seconds - (time.monotonic() - self.started))

    def _stop(self, message: str, **details: Any) -> BudgetExceeded:
        if self.failure is None:
            self.failure = BudgetExceeded(message, details=details)
            self.exhausted.set()
        return self.failure

    def over_time(self, cause: SynthralError) -> BudgetExceeded:
        """The budget's wall time ran out while the framework worked (its call timed out)."""
        return self._stop(
            f"the agent ran for its budget's max_seconds ({self.budget.max_seconds} s) and was stopped "
            f"({cause.error_type}); raise budget.max_seconds if the task needs longer",
            limit="max_seconds",
            value=self.budget.max_seconds,
        )

    def _charge(self, what: str) -> None:
        if self.failure is not None:
            raise self.failure
        self.spend.steps += 1
        budget = self.budget
        if self.spend.steps > budget.max_steps:
            raise self._stop(
                f"the agent wanted {what} after {budget.max_steps} steps, its budget's max_steps; it is stopped. "
                "Raise budget.max_steps if the task needs more, or narrow the task",
                limit="max_steps",
                value=budget.max_steps,
            )
        used = self.spend.input_tokens + self.spend.output_tokens
        if budget.max_tokens is not None and used >= budget.max_tokens:
            raise self._stop(
                f"the agent has used {used} tokens, its budget's max_tokens is {budget.max_tokens}; raise it",
                limit="max_tokens",
                value=budget.max_tokens,
            )
        if budget.max_cost_usd is not None and self.spend.cost_usd >= budget.max_cost_usd:
            raise self._stop(
                f"the agent has spent ${self.spend.cost_usd:.6f}, its budget's max_cost_usd is "
                f"${budget.max_cost_usd}; raise it",
                limit="max_cost_usd",
                value=budget.max_cost_usd,
            )
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise self._stop(
                f"the agent has run for {budget.max_seconds} s, its budget's max_seconds; raise it",
                limit="max_seconds",
                value=budget.max_seconds,
            )

    # -- host services -------------------------------------------------------------------

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """An LLM call: replayed if recorded, else asked of the provider; charged and recorded."""
        self._charge("an LLM call")
        if not request.model:
            request = request.model_copy(update={"model": self.choice.model})
        digest = record_digest(request.model_dump(mode="json"))
        recorded = self.replay.llm_answer(digest)
        if recorded is not None:
            result = CompletionResult.model_validate(recorded["result"])
            cost = recorded.get("cost")
            self._count_llm(result, float(cost) if isinstance(cost, int | float) else 0.0)
            self.spend.replayed += 1
            await self.service.llm.record_replayed(self.scope, self.choice, result)
            await self._log("llm_call", f"LLM answer replayed ({result.finish_reason})", None)
            return result
        priced = await self.service.llm.complete(
            request,
            self.choice,
            secrets=self.secrets,
            scope=self.scope,
            context=self.service.plugins.context(timeout=self.remaining(), events=self.events),
        )
        result = priced.result
        self._count_llm(result, priced.cost_usd or 0.0)
        if self.budget.max_cost_usd is not None and priced.cost_usd is None:
            raise self._stop(
                f"model {result.model!r} has no price in the price table, so the cost budget cannot be held; "
                "add it to $SYNTHRAL_HOME/llm-prices.toml or drop budget.max_cost_usd",
                limit="max_cost_usd",
                model=result.model,
            )
        calls = ", ".join(call.name for call in result.message.tool_calls)
        summary = f"asks for {calls}" if calls else (result.message.content[:200] or result.finish_reason)
        await self._log(
            "llm_call",
            f"LLM ({result.usage.input_tokens}+{result.usage.output_tokens} tokens): {summary}",
            {"request": digest, "result": result.model_dump(mode="json"), "cost": priced.cost_usd},
        )
        return result

    def _count_llm(self, result: CompletionResult, cost: float) -> None:
        self.spend.llm_calls += 1
        self.spend.input_tokens += result.usage.input_tokens
        self.spend.output_tokens += result.usage.output_tokens
        self.spend.cost_usd += cost

    async def call_tool(self, call: ToolCall) -> ToolResult:
        """A tool call: refused unless granted, replayed if recorded, else run; charged and recorded."""
        self._charge(f"to call {call.name!r}")
        self.spend.tool_calls += 1
        if not self.toolbox.knows(call.name):
            denied = self.toolbox.denial(call)
            await self._log("tool_denied", str(denied.error), {"name": call.name}, level="warning")
            return denied
        arguments = record_digest(call.arguments)
        recorded = self.replay.tool_result(call.name, arguments)
        if recorded is not None:
            self.spend.replayed += 1
            result = ToolResult.model_validate({**recorded, "call_id": call.id, "replayed": True})
            await self._log("tool_result", f"{call.name} replayed from the earlier attempt", None)
            return result.model_copy(update={"output": bounded(result.output)})
        seq = await self._log("tool_call", f"{call.name}({orjson.dumps(call.arguments).decode()[:300]})", None)
        result = await self.toolbox.run(call, seq, self.remaining())
        text = result.as_text()
        await self._log(
            "tool_result",
            f"{call.name} → {text[:300]}",
            {"name": call.name, "arguments": arguments, "result": result.model_dump(mode="json"), "replayable": True},
            level="info" if result.ok else "warning",
        )
        return result.model_copy(update={"output": bounded(result.output)})

    async def record(self, step: AgentStep) -> None:
        """A step the framework reports (thought, plan, check, message)."""
        await self._log(step.kind, step.content, {"data": step.data} if step.data else None)

    async def _log(self, kind: str, message: str, data: JSONObject | None, *, level: str = "info") -> int:
        seq = self.seq
        self.seq += 1
        text = self.redactor.text(message)[:4000]
        await self.service.append_log(
            self.task_id, seq=seq, attempt=self.attempt, kind=kind, message=text, data=self.redactor.value(data),
            level=level,
        )  # fmt: skip
        if self.events is not None:
            self.events(AGENT_EVENT, {"task_id": self.task_id, "seq": seq, "kind": kind, "message": text[:500]})
        return seq


class AgentService:
    """Agent tasks over the plugin host, the LLM service and the database."""

    def __init__(self, database: Database, plugins: PluginHost, llm: LLMService) -> None:
        self.database = database
        self.plugins = plugins
        self.llm = llm
        self.workflows: WorkflowRunner | None = None
        self.logs = BatchInsert(database, AGENT_TASK_LOG)

    # -- catalog and routing ---------------------------------------------------------------

    def installed(self) -> list[FrameworkInfo]:
        """The agent frameworks installed and enabled."""
        found = []
        for entry in self.plugins.catalog():
            if entry.spec.kind is CapabilityKind.AGENT_FRAMEWORK:
                extra = entry.spec.extra
                styles = extra.get("styles")
                found.append(
                    FrameworkInfo(
                        ref=entry.ref,
                        framework=str(extra.get("framework") or entry.spec.name),
                        styles=tuple(str(s) for s in styles) if isinstance(styles, list) else (),
                        version=entry.version,
                    )
                )
        return found

    def catalog(self) -> list[JSONObject]:
        """What the agents catalog shows: each framework with its styles and description."""
        described = {entry.ref: entry for entry in self.plugins.catalog()}
        return [
            {
                "framework": info.ref,
                "package": info.framework,
                "version": info.version,
                "styles": list(info.styles),
                "title": described[info.ref].spec.title,
                "description": described[info.ref].spec.description,
            }
            for info in self.installed()
        ]

    def evaluate(self, config: AgentConfig) -> RoutingDecision:
        """The router's decision for ``config``, without running anything."""
        return decide(config.routing, self.installed(), roles=len(config.roles) or 1, override=config.framework)

    # -- running a step ------------------------------------------------------------------------

    async def run_step(self, host: StepHost, config: AgentConfig, agent_input: AgentInput) -> JSONObject:
        """Run (or resume) the agent task of one ``agent/run`` step; return the step's output.

        Raises:
            BudgetExceeded: The task spent its budget (the task is marked so).
            ConfigurationError: No framework fits, a tool grant is wrong, the answer misses
                ``output_schema``.
            SynthralError: The framework failed.
        """
        config = agent_input.spec or config
        decision = self.evaluate(config)
        task_id = task_id_for(host.key)
        existing = await self._task(task_id)
        if existing is not None and existing.status == AgentTaskStatus.COMPLETED:
            return dict(existing.output_data or {})  # finished before a crash lost the step's record
        rows = await self._logs(task_id)
        await self._begin(
            task_id, host=host, config=config, agent_input=agent_input, decision=decision, existing=existing
        )
        first_seq = (max((row.seq for row in rows), default=-1)) + 1
        scope = CallScope(host.workspace_id, host.execution_id, host.node_id, task_id)
        toolbox = ToolBox(
            self.plugins,
            config.tools,
            secrets_for=host.secrets_for,
            workflows=self.workflows,
            workspace_id=host.workspace_id,
            scope=host.key,
        )
        session = AgentSession(
            self,
            task_id=task_id,
            attempt=host.attempt,
            first_seq=first_seq,
            budget=config.budget,
            choice=config.llm,
            secrets=host.secrets,
            scope=scope,
            toolbox=toolbox,
            replay=Replay.from_rows(rows),
            events=host.events,
            redactor=host.redactor,
        )
        if not rows:
            await session._log("route", f"{decision.framework}: {decision.reason}", decision.wire())  # noqa: SLF001
        try:
            tools = await toolbox.prepare()
            output = await self._invoke(
                host, config=config, agent_input=agent_input, decision=decision, session=session, tools=tools
            )
        except BudgetExceeded as exc:
            await self._end(task_id, AgentTaskStatus.BUDGET_EXCEEDED, session, error=exc)
            raise
        except SynthralError as exc:
            status = AgentTaskStatus.RUNNING if exc.retryable else AgentTaskStatus.FAILED
            await self._end(task_id, status, session, error=exc)
            raise
        await self._end(task_id, AgentTaskStatus.COMPLETED, session, output=output)
        return output

    async def _invoke(
        self,
        host: StepHost,
        *,
        config: AgentConfig,
        agent_input: AgentInput,
        decision: RoutingDecision,
        session: AgentSession,
        tools: list[Any],
    ) -> JSONObject:
        handle = self.plugins.resolve(decision.framework)
        request = agent_request(config, agent_input, tools)
        timeouts = [t for t in (host.time_remaining(), config.budget.max_seconds) if t is not None]
        context = self.plugins.context(
            timeout=min(timeouts) if timeouts else None,
            execution_id=host.execution_id,
            node_id=host.node_id,
            attempt=host.attempt,
            idempotency_key=host.key,
            events=host.events,
            host=session,
        )
        call = asyncio.ensure_future(
            handle.call("run_agent", config.framework_config, request.model_dump(mode="json"), context)
        )
        spent = asyncio.ensure_future(session.exhausted.wait())
        try:
            await asyncio.wait({call, spent}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            spent.cancel()
        if not call.done():  # the budget ran out and the framework went on: stop it
            call.cancel()
            with contextlib.suppress(BaseException):
                await call
            assert session.failure is not None
            raise session.failure
        try:
            raw = call.result()
        except InvocationTimeout as exc:
            limit = config.budget.max_seconds
            if limit is not None and (session.remaining() or 0) <= 0:
                raise session.over_time(exc) from None
            raise
        except SynthralError:
            if session.failure is not None:
                raise session.failure from None  # the framework's error was the host's refusal
            raise
        result = AgentResult.model_validate(raw)
        data = result.data
        if config.output_schema is not None:
            data = structured_data(result, config.output_schema)
        return {
            "output": host.redactor.text(result.output),
            "data": host.redactor.value(data),
            "task_id": session.task_id,
            "framework": decision.framework,
            "routing": decision.wire(),
            "usage": session.spend.wire(),
            "steps": [step.model_dump(mode="json") for step in result.steps][-50:],
        }

    # -- the record ------------------------------------------------------------------------------

    async def _task(self, task_id: str) -> Any:
        async with self.database.engine.connect() as connection:
            return (await connection.execute(select(AGENT_TASK).where(AGENT_TASK.c.id == task_id))).first()

    async def _logs(self, task_id: str) -> list[Any]:
        async with self.database.engine.connect() as connection:
            query = select(AGENT_TASK_LOG).where(AGENT_TASK_LOG.c.task_id == task_id).order_by(AGENT_TASK_LOG.c.seq)
            return list((await connection.execute(query)).all())

    async def _begin(
        self,
        task_id: str,
        *,
        host: StepHost,
        config: AgentConfig,
        agent_input: AgentInput,
        decision: RoutingDecision,
        existing: Any,
    ) -> None:
        async with self.database.transaction() as connection:
            if existing is None:
                await connection.execute(
                    insert(AGENT_TASK),
                    {
                        "id": task_id,
                        "workspace_id": host.workspace_id,
                        "execution_id": host.execution_id,
                        "node_id": host.node_id,
                        "idempotency_key": host.key,
                        "agent_framework": decision.framework,
                        "task_type": decision.style,
                        "status": AgentTaskStatus.RUNNING,
                        "input_data": host.redactor.value(
                            {
                                "task": agent_input.task,
                                "inputs": agent_input.inputs,
                                "config": config.model_dump(mode="json"),
                            }
                        ),
                        "routing": decision.wire(),
                        "attempts": 1,
                        "started_at": utcnow(),
                    },
                )
            else:
                await connection.execute(
                    update(AGENT_TASK)
                    .where(AGENT_TASK.c.id == task_id)
                    .values(status=AgentTaskStatus.RUNNING, attempts=AGENT_TASK.c.attempts + 1, error_type=None,
                            error_message=None, agent_framework=decision.framework, routing=decision.wire())
                )  # fmt: skip

    async def _end(
        self,
        task_id: str,
        status: str,
        session: AgentSession,
        *,
        output: JSONObject | None = None,
        error: SynthralError | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "usage": session.spend.wire(), "output_data": output}
        if status in AgentTaskStatus.TERMINAL:
            values["completed_at"] = utcnow()
        if error is not None:
            values["error_type"] = error.error_type
            values["error_message"] = session.redactor.text(error.message)[:4000]
            if isinstance(error, BudgetExceeded):
                await session._log("budget", error.message, dict(error.details), level="error")  # noqa: SLF001
        await self.logs.flush()
        await self.llm.records.flush()
        async with self.database.transaction() as connection:
            await connection.execute(update(AGENT_TASK).where(AGENT_TASK.c.id == task_id).values(**values))

    async def append_log(
        self, task_id: str, *, seq: int, attempt: int, kind: str, message: str, data: Any, level: str
    ) -> None:
        """Record one ``agent_task_log`` row: a tool call's, committed before it is answered; others batched.

        A tool result must survive a crash (a resumed task replays it instead of running the
        tool again); an LLM answer or a thought lost in the last fraction of a second only
        means the model is asked again.
        """
        row = {"task_id": task_id, "seq": seq, "attempt": attempt, "kind": kind, "level": level, "message": message,
               "data": data, "timestamp": utcnow()}  # fmt: skip
        if kind not in DURABLE_KINDS:
            self.logs.add(row)
            return
        await self.logs.flush()
        async with self.database.transaction() as connection:
            await connection.execute(insert(AGENT_TASK_LOG), row)

    # -- API ------------------------------------------------------------------------------------

    async def create_queued(
        self, task_id: str, *, key: str, execution_id: str, workspace_id: str, config: AgentConfig, task: AgentInput
    ) -> RoutingDecision:
        """Record a task the API queued (its step updates the row when it runs)."""
        decision = self.evaluate(config)
        async with self.database.transaction() as connection:
            await connection.execute(
                insert(AGENT_TASK),
                {"id": task_id, "workspace_id": workspace_id, "execution_id": execution_id, "node_id": "agent",
                 "idempotency_key": key, "agent_framework": decision.framework, "task_type": decision.style,
                 "status": "queued", "input_data": {"task": task.task, "inputs": task.inputs,
                                                    "config": config.model_dump(mode="json")},
                 "routing": decision.wire(), "attempts": 0, "started_at": utcnow()},
            )  # fmt: skip
        return decision

    async def status(self, task_id: str, *, workspace_id: str | None, log_limit: int = 200) -> JSONObject:
        """A task with its latest log lines.

        Raises:
            NotFound: No such task in the workspace.
        """
        query = select(AGENT_TASK).where(AGENT_TASK.c.id == task_id)
        if workspace_id is not None:
            query = query.where(AGENT_TASK.c.workspace_id == workspace_id)
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(query)).first()
            if row is None:
                raise NotFound(f"no agent task {task_id!r} in this workspace", details={"task_id": task_id})
            count = (
                await connection.execute(
                    select(func.count()).select_from(AGENT_TASK_LOG).where(AGENT_TASK_LOG.c.task_id == task_id)
                )
            ).scalar_one()
            logs = await connection.execute(
                select(AGENT_TASK_LOG.c.seq, AGENT_TASK_LOG.c.attempt, AGENT_TASK_LOG.c.kind, AGENT_TASK_LOG.c.level,
                       AGENT_TASK_LOG.c.message, AGENT_TASK_LOG.c.timestamp)
                .where(AGENT_TASK_LOG.c.task_id == task_id)
                .order_by(AGENT_TASK_LOG.c.seq.desc())
                .limit(log_limit)
            )  # fmt: skip
            lines = [dict(r._mapping) for r in logs]  # noqa: SLF001 -- SQLAlchemy's row mapping accessor
        task = {key: _iso(value) for key, value in dict(row._mapping).items()}  # noqa: SLF001 -- same
        task["log"] = [{k: _iso(v) for k, v in line.items()} for line in reversed(lines)]
        task["log_total"] = int(count)
        return task


def agent_request(config: AgentConfig, agent_input: AgentInput, tools: list[Any]) -> AgentRequest:
    """What the framework is asked to do for one task, ``tools`` being the prepared tool specs."""
    return AgentRequest(
        task=agent_input.task,
        model=config.llm.model,
        tools=tools,
        inputs=agent_input.inputs,
        max_steps=min(config.budget.max_steps, 1000),
        instructions=config.instructions,
        roles=config.roles,
        output_schema=config.output_schema,
        budget=config.budget,
        options=config.options,
    )


def structured_data(result: AgentResult, schema: dict[str, Any]) -> Any:
    """The agent's answer as data matching ``schema`` (parsed from its text when it gave none).

    Raises:
        NonRetryableError: The answer is not JSON or does not match ``schema``.
        ConfigurationError: ``schema`` is not a valid JSON Schema.
    """
    data = result.data
    if data is None:
        text = result.output.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise NonRetryableError(
                "the agent's final answer is not JSON, but the step has an output_schema; tell the agent in its "
                f"instructions to answer with JSON only. It answered: {result.output[:300]!r}",
                error_type="AgentOutputInvalid",
            ) from None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        path = ".".join(str(p) for p in exc.absolute_path) or "(answer)"
        raise NonRetryableError(
            f"the agent's final answer does not match the output_schema at '{path}': {exc.message}",
            error_type="AgentOutputInvalid",
        ) from None
    except jsonschema.SchemaError as exc:
        raise ConfigurationError(f"output_schema is not a valid JSON Schema: {exc.message}") from None
    return data
