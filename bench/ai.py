"""AI benchmarks: the agent router's overhead, and an agent step's overhead over the raw LLM call.

Everything runs against the OpenAI stand-in on loopback (no model), so the figures are the
platform's own cost. The step overhead is measured in one run: K raw completions through
the provider plugin, then an agent task of K turns on the same provider and stand-in (each
turn: the framework plugin asks the host, the host checks the budget, records the step and
asks the provider); overhead per step = (task time - K raw calls) / K.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench.common import Result, percentile, summary_us
from synthral.config import Settings
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from synthral.services.agent_models import AgentConfig, RoutingHints
from synthral.services.agent_router import FrameworkInfo, decide
from synthral.services.app import ai_services, workflow_runner
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import STEP
from synthral_sdk.testing_llm import OpenAIStandIn, RecordedRequest, Reply

GROUP = "ai"
REPO = Path(__file__).resolve().parent.parent
THINK = '{"beliefs": {"n": 1}, "goal_met": false, "action": null, "answer": ""}'
DONE = '{"beliefs": {"n": 1}, "goal_met": true, "action": null, "answer": "done"}'

FRAMEWORKS = [
    FrameworkInfo("agent-langgraph/react", "langgraph", ("tool_calling",)),
    FrameworkInfo("agent-pydantic-ai/typed", "pydantic-ai", ("tool_calling",)),
    FrameworkInfo("agent-autogen/team", "autogen-agentchat", ("tool_calling", "multi_role")),
    FrameworkInfo("agent-semantic-kernel/kernel", "semantic-kernel", ("tool_calling",)),
    FrameworkInfo("agent-crewai/crew", "crewai", ("multi_role", "tool_calling")),
    FrameworkInfo("agent-loops/tasklist", "task-list-loop", ("simple", "recursive")),
    FrameworkInfo("agent-loops/selffix", "self-fix-loop", ("self_fix",)),
    FrameworkInfo("agent-loops/beliefgoal", "belief-goal-loop", ("belief_goal",)),
]
HINTS = [
    RoutingHints(),
    RoutingHints(agent_type="simple"),
    RoutingHints(recursive_planning=True),
    RoutingHints(agent_roles=3),
    RoutingHints(agent_self_fix=True),
    RoutingHints(agent_type="belief_goal", user_prefers_copilot_ui=True),
]


def _router_decisions(rounds: int) -> list[float]:
    samples = []
    for index in range(rounds):
        hints = HINTS[index % len(HINTS)]
        started = time.perf_counter()
        decide(hints, FRAMEWORKS)
        samples.append(time.perf_counter() - started)
    return samples


async def _install(home: Path) -> None:
    plugins = PluginHost(Settings.load(home=home))
    for name in ("llm-openai-compatible", "agent-loops"):
        await plugins.install(str(REPO / "plugins" / name), grant=GrantRequest(items=["all"]))
    await plugins.close()


class Script:
    """THINK until the task's ``turns``-th call, then DONE; raw calls (a system prompt of x's) get THINK."""

    def __init__(self) -> None:
        self.turns = 1
        self.calls = 0
        self.raw_at: list[float] = []
        self.agent_at: list[float] = []

    def task(self, turns: int) -> None:
        self.turns, self.calls = turns, 0

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        messages = body.get("messages") or [{}]
        if body.get("raw") or str(messages[0].get("content", "")).startswith("xxxx"):
            self.raw_at.append(time.perf_counter())
            return Reply(THINK)
        self.agent_at.append(time.perf_counter())
        self.calls += 1
        return Reply(DONE if self.calls >= self.turns else THINK)


async def run(quick: bool) -> list[Result]:
    results: list[Result] = []
    rounds = 2_000 if quick else 20_000
    decisions = summary_us(_router_decisions(rounds))
    results.append(
        Result(
            GROUP,
            "router decision (p99)",
            decisions["p99"] / 1000,
            "ms",
            "<= 5 ms",
            decisions["p99"] <= 5000,
            {"p50_us": decisions["p50"], "rounds": rounds},
        )
    )
    turns = 10 if quick else 20
    with tempfile.TemporaryDirectory(prefix="synthral-bench-ai-") as scratch:
        home = Path(scratch) / "home"
        await _install(home)
        # The stand-in LLM listens on loopback, which plugins may not reach unless allowed.
        settings = Settings.load(home=home).replace(security={"egress_allow": "127.0.0.1"})
        database = Database(f"sqlite+aiosqlite:///{home / 'bench.db'}")
        await database.migrate()
        plugins = PluginHost(settings)
        ai = ai_services(database, plugins, settings)
        engine = Engine(database, plugins, settings=settings.engine, step_services=ai)
        service = WorkflowService(database, plugins, engine)
        ai.agents.workflows = workflow_runner(service)
        worker = Worker(engine, concurrency=2, poll_interval=0.02)
        task = asyncio.create_task(worker.run())
        try:
            results.extend(await _measure(ai, service, plugins, turns))
        finally:
            worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await ai.close()
            await plugins.close()
            await database.close()
    return results


async def _agent_task(service: WorkflowService, workflow_id: str, script: Script, turns: int) -> tuple[float, int]:
    """Run one agent task of ``turns`` LLM calls; its step's duration and its LLM call count."""
    script.task(turns)
    script.agent_at.clear()
    execution_id = await service.start(workflow_id, {"turns": turns})
    while (await service.execution(execution_id)).status not in {"completed", "failed"}:
        await asyncio.sleep(0.02)
    view = await service.execution(execution_id)
    if view.status != "completed":
        raise RuntimeError(f"the agent task failed: {view.execution['error_message']}")
    async with service.database.engine.connect() as connection:
        step_ms = (
            await connection.execute(select(STEP.c.duration_ms).where(STEP.c.execution_id == execution_id))
        ).scalar_one()
    return float(step_ms), int(view.execution["output"]["agent"]["usage"]["llm_calls"])


async def _measure(ai: Any, service: WorkflowService, plugins: PluginHost, turns: int) -> list[Result]:
    results = []
    evaluations = []
    config = AgentConfig.model_validate({"llm": {"model": "m"}, "routing": {"agent_roles": 2}})
    for _ in range(200):
        started = time.perf_counter()
        ai.agents.evaluate(config)  # the catalog read and the decision, as the API does it
        evaluations.append(time.perf_counter() - started)
    p99 = percentile(evaluations, 99) * 1000
    results.append(Result(GROUP, "router with catalog lookup (p99)", p99, "ms", "<= 5 ms", p99 <= 5.0))
    script = Script()
    with OpenAIStandIn(responder=script) as llm:
        llm_config = {"provider": "llm-openai-compatible/openai", "model": "m", "config": {"base_url": llm.url}}
        async with httpx.AsyncClient() as client:  # the floor: one bare HTTP round trip to the stand-in
            bare = []
            for _ in range(turns):
                started = time.perf_counter()
                await client.post(llm.url + "/chat/completions", json={"raw": True, "messages": []})
                bare.append(time.perf_counter() - started)
        rounds = 2 if turns <= 10 else 5
        request = {
            "model": "m",
            "messages": [{"role": "system", "content": "x" * 400}, {"role": "user", "content": "y"}],
        }
        workflow = {"name": "bench-agent", "nodes": [{"id": "agent", "type": "agent/run",
                    "config": {"llm": llm_config, "routing": {"agent_type": "belief_goal"},
                               "budget": {"max_steps": turns + 5}},
                    "input": {"task": "Think {{ trigger.turns }} times"}}]}  # fmt: skip
        saved = await service.save(Workflow.model_validate(workflow))
        await _agent_task(service, saved.workflow_id, script, 2)  # starts the framework's plugin process
        # Raw calls and agent turns alternate in rounds, so a machine whose load drifts
        # weighs on both alike; the gaps between requests reaching the stand-in are compared.
        raw: list[float] = []
        raw_gaps: list[float] = []
        agent_gaps: list[float] = []
        step_ms = 0.0
        calls = 0
        for _ in range(rounds):
            script.raw_at.clear()
            for index in range(turns + 2):
                started = time.perf_counter()
                await plugins.invoke(
                    "llm-openai-compatible/openai", request, config={"base_url": llm.url}, operation="complete"
                )
                if index >= 2:
                    raw.append(time.perf_counter() - started)
            raw_gaps.extend(b - a for a, b in zip(script.raw_at[2:], script.raw_at[3:], strict=False))
            task_ms, used = await _agent_task(service, saved.workflow_id, script, turns)
            agent_gaps.extend(b - a for a, b in zip(script.agent_at, script.agent_at[1:], strict=False))
            step_ms += task_ms
            calls += used
    # Robust to a loaded machine: the median time between consecutive requests reaching the
    # stand-in, for back-to-back raw calls and for the agent's turns.
    raw_gap = percentile(raw_gaps, 50) * 1000
    agent_gap = percentile(agent_gaps, 50) * 1000
    raw_ms = sum(raw) / len(raw) * 1000
    per_step = step_ms / calls
    overhead = agent_gap - raw_gap
    results.append(Result(GROUP, "bare HTTP round trip to the stand-in (mean)", sum(bare) / len(bare) * 1000, "ms"))
    results.append(Result(GROUP, "raw LLM call through the provider plugin (mean)", raw_ms, "ms"))
    results.append(Result(GROUP, "raw LLM call, request to request (p50)", raw_gap, "ms"))
    results.append(Result(GROUP, "agent step, framework plugin → host → provider (mean)", per_step, "ms"))
    results.append(Result(GROUP, "agent step, request to request (p50)", agent_gap, "ms"))
    results.append(
        Result(
            GROUP,
            "agent step overhead over the raw LLM call",
            overhead,
            "ms",
            "<= 10 ms",
            overhead <= 10.0,
            {
                "turns": calls,
                "task_ms": step_ms,
                "mean_difference_ms": per_step - raw_ms,
                "load_average": os.getloadavg()[0],
            },
        )
    )
    return results
