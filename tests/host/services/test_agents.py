"""AI steps end to end: real provider and agent plugins in their venvs, an engine, the LLM stand-in.

The home has the ``llm-openai-compatible`` and ``agent-loops`` plugins (and the ``noop``
fixture for tools) installed from their folders; the model is an OpenAIStandIn scripted
per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from synthral.config import EngineSettings
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.app import ai_services, workflow_runner
from synthral.services.workflows import ExecutionView, WorkflowService
from synthral.store.ai_tables import AGENT_TASK, AGENT_TASK_LOG, LLM_CALL, STEP_EVENT
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus
from synthral_sdk.testing_llm import OpenAIStandIn, Reply
from tests.support.engine import Sink, serve_sink
from tests.support.settings import make_settings


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A remote API that dedupes by idempotency key."""
    with serve_sink() as state:
        yield state


@pytest.fixture
def llm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as server:
        yield server


class AI:
    """An engine with the AI services and a worker, over one database."""

    def __init__(self, database: Database, plugins: PluginHost) -> None:
        self.database = database
        self.plugins = plugins
        self.ai = ai_services(database, plugins, plugins.settings)
        self.engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0), step_services=self.ai)
        self.service = WorkflowService(database, plugins, self.engine)
        self.ai.agents.workflows = workflow_runner(self.service)
        self.worker = Worker(self.engine, concurrency=4, poll_interval=0.05)

    async def run(self, workflow: dict[str, Any], payload: dict[str, Any] | None = None) -> ExecutionView:
        saved = await self.service.save(Workflow.model_validate(workflow))
        execution_id = await self.service.start(saved.workflow_id, payload or {})
        return await wait(self.service, execution_id, lambda v: v.status in ExecutionStatus.TERMINAL)

    async def rows(self, table: Any, **where: Any) -> list[Any]:
        query = select(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        async with self.database.engine.connect() as connection:
            return list((await connection.execute(query.order_by(table.c[next(iter(table.primary_key)).name]))).all())


@pytest.fixture
async def ai(database: Database, ai_home: Path, wheelhouse: Path) -> AsyncIterator[AI]:
    plugins = PluginHost(make_settings(ai_home, wheelhouse))
    harness = AI(database, plugins)
    task = asyncio.create_task(harness.worker.run())
    yield harness
    harness.worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await harness.ai.close()
    await plugins.close()


async def wait(service: WorkflowService, execution_id: str, check: Any, timeout: float = 90) -> ExecutionView:
    deadline = asyncio.get_running_loop().time() + timeout
    view = await service.execution(execution_id)
    while not check(view):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; execution is {view.status}: {view.execution} {view.steps}")
        await asyncio.sleep(0.05)
        view = await service.execution(execution_id)
    return view


def llm_config(llm: OpenAIStandIn) -> dict[str, Any]:
    return {"provider": "llm-openai-compatible/openai", "model": "gpt-test",
            "config": {"base_url": llm.url, "max_retry_wait": 0.05}}  # fmt: skip


def one_node(name: str, node: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "nodes": [{"id": "ai", **node}]}


async def test_llm_chat_streams_tokens_records_usage_and_cost(ai: AI, llm: OpenAIStandIn) -> None:
    llm.script(Reply("Hello from the model", pieces=4, input_tokens=100, output_tokens=50))
    node = {"type": "llm/chat", "config": {"llm": llm_config(llm), "system": "Be brief"},
            "input": {"prompt": "{{ trigger.question }}"}}  # fmt: skip
    view = await ai.run(one_node("chat", node), {"question": "Hi?"})

    assert view.status == ExecutionStatus.COMPLETED, view.execution
    output = view.execution["output"]["ai"]
    assert output["text"] == "Hello from the model" and output["usage"] == {"input_tokens": 100, "output_tokens": 50}
    assert llm.requests[0].body["messages"] == [
        {"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi?"}
    ]  # fmt: skip
    await ai.ai.flush()
    calls = await ai.rows(LLM_CALL, execution_id=view.execution["id"])
    assert [(c.model, c.tokens_input, c.tokens_output, c.status) for c in calls] == [("gpt-test", 100, 50, "ok")]
    assert calls[0].usd_cost == pytest.approx(100 * 1000 / 1e6 + 50 * 2000 / 1e6)
    events = await ai.rows(STEP_EVENT, execution_id=view.execution["id"])
    assert "".join(e.data["text"] for e in events if e.kind == "llm.token") == "Hello from the model"


async def test_llm_extract_repairs_an_answer_that_misses_the_schema(ai: AI, llm: OpenAIStandIn) -> None:
    llm.script(Reply.json({"name": "Ada"}), Reply.json({"name": "Ada", "born": 1815}))
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "born": {"type": "integer"}},
              "required": ["name", "born"]}  # fmt: skip

    view = await ai.run(one_node("extract", {"type": "llm/extract", "config": {"llm": llm_config(llm),
                                             "json_schema": schema}, "input": {"text": "Ada, born 1815"}}))  # fmt: skip

    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert view.execution["output"]["ai"]["data"] == {"name": "Ada", "born": 1815}
    assert view.execution["output"]["ai"]["repairs"] == 1
    assert "'born' is a required property" in llm.requests[1].body["messages"][-1]["content"]


async def test_an_llm_node_without_a_provider_installed_fails_naming_the_fix(ai: AI, llm: OpenAIStandIn) -> None:
    config = {"llm": {"provider": "llm-nowhere/openai", "model": "m"}}
    view = await ai.run(one_node("nowhere", {"type": "llm/chat", "config": config, "input": {"prompt": "x"}}))

    assert view.status == ExecutionStatus.FAILED
    assert "no plugin llm-nowhere is installed" in view.execution["error_message"]


def agent_node(llm: OpenAIStandIn, **config: Any) -> dict[str, Any]:
    return {"type": "agent/run", "config": {"llm": llm_config(llm), **config}, "input": {"task": "{{ trigger.task }}"}}


ECHO = {"node": "noop/echo", "name": "echo", "description": "Echo a value"}


async def test_an_agent_is_routed_calls_granted_tools_and_every_step_is_recorded(ai: AI, llm: OpenAIStandIn) -> None:
    llm.script(
        Reply.json({"beliefs": {}, "goal_met": False, "action": {"tool": "echo", "arguments": {"value": 42}},
                    "answer": ""}),
        Reply.json({"beliefs": {"echoed": 42}, "goal_met": True, "action": None, "answer": "It echoed 42."}),
    )  # fmt: skip
    node = agent_node(llm, tools=[ECHO], routing={"agent_type": "belief_goal"})

    view = await ai.run(one_node("agent", node), {"task": "Echo 42"})

    assert view.status == ExecutionStatus.COMPLETED, view.execution
    output = view.execution["output"]["ai"]
    assert output["output"] == "It echoed 42." and output["framework"] == "agent-loops/beliefgoal"
    assert "belief/goal" in output["routing"]["reason"]
    tasks = await ai.rows(AGENT_TASK, execution_id=view.execution["id"])
    assert [(t.status, t.agent_framework, t.task_type) for t in tasks] == [
        ("completed", "agent-loops/beliefgoal", "belief_goal")
    ]
    assert tasks[0].usage["llm_calls"] == 2 and tasks[0].usage["tool_calls"] == 1
    logs = await ai.rows(AGENT_TASK_LOG, task_id=tasks[0].id)
    kinds = [log.kind for log in logs]
    assert kinds == ["route", "llm_call", "thought", "tool_call", "tool_result", "llm_call", "thought"]
    assert '"value":42' in logs[4].message.replace(" ", "") or "42" in logs[4].message
    llm_calls = await ai.rows(LLM_CALL, agent_task_id=tasks[0].id)
    assert len(llm_calls) == 2


async def test_an_ungranted_tool_is_refused_and_the_model_is_told(ai: AI, llm: OpenAIStandIn) -> None:
    llm.script(
        Reply.json({"beliefs": {}, "goal_met": False, "action": {"tool": "delete_all", "arguments": {}}, "answer": ""}),
        Reply.json({"beliefs": {}, "goal_met": True, "action": None, "answer": "Not allowed."}),
    )
    view = await ai.run(one_node("deny", agent_node(llm, tools=[ECHO], routing={"agent_type": "belief_goal"})),
                        {"task": "Delete everything"})  # fmt: skip

    assert view.status == ExecutionStatus.COMPLETED, view.execution
    told = llm.requests[1].body["messages"][-1]["content"]
    assert "tool 'delete_all' is not granted to this agent; the granted tools are: echo" in told
    tasks = await ai.rows(AGENT_TASK, execution_id=view.execution["id"])
    logs = await ai.rows(AGENT_TASK_LOG, task_id=tasks[0].id)
    assert [log.kind for log in logs].count("tool_denied") == 1


async def test_an_endless_tool_loop_is_stopped_by_the_step_budget(ai: AI, llm: OpenAIStandIn) -> None:
    llm.responder = lambda request: Reply.json(
        {"beliefs": {}, "goal_met": False, "action": {"tool": "echo", "arguments": {"value": 1}}, "answer": ""}
    )
    node = agent_node(llm, tools=[ECHO], routing={"agent_type": "belief_goal"}, budget={"max_steps": 7})

    view = await ai.run(one_node("loop", node), {"task": "Never stop"})

    assert view.status == ExecutionStatus.FAILED
    assert "max_steps" in view.execution["error_message"] and view.execution["error_type"] == "BudgetExceeded"
    tasks = await ai.rows(AGENT_TASK, execution_id=view.execution["id"])
    assert tasks[0].status == "budget_exceeded" and tasks[0].usage["steps"] == 8
    assert len(llm.requests) == 4  # 4 LLM calls + 3 tool calls = 7 steps; the 8th was refused
    agent_steps = [s for s in view.steps if s["node_id"] == "ai"]
    assert [s["attempt"] for s in agent_steps] == [1]  # a spent budget is not retried


async def test_a_token_budget_holds(ai: AI, llm: OpenAIStandIn) -> None:
    thinking = '{"beliefs": {}, "goal_met": false, "action": null, "answer": ""}'
    llm.responder = lambda request: Reply(text=thinking, input_tokens=400, output_tokens=200)
    node = agent_node(llm, routing={"agent_type": "belief_goal"}, budget={"max_tokens": 1000, "max_steps": 50})

    view = await ai.run(one_node("tokens", node), {"task": "Think forever"})

    assert view.status == ExecutionStatus.FAILED and "max_tokens" in view.execution["error_message"]
    assert len(llm.requests) == 2  # 600 + 600 tokens: the third call is refused


async def test_a_cost_budget_holds_by_the_price_table(ai: AI, llm: OpenAIStandIn) -> None:
    thinking = '{"beliefs": {}, "goal_met": false, "action": null, "answer": ""}'
    llm.responder = lambda request: Reply(text=thinking, input_tokens=1000, output_tokens=0)  # $1 a call here
    node = agent_node(llm, routing={"agent_type": "belief_goal"}, budget={"max_cost_usd": 2.5, "max_steps": 50})

    view = await ai.run(one_node("cost", node), {"task": "Spend"})

    assert view.status == ExecutionStatus.FAILED and "max_cost_usd" in view.execution["error_message"]
    assert len(llm.requests) == 3  # $1, $2, $3: the fourth call is refused


async def test_wall_time_is_a_budget_too(ai: AI, llm: OpenAIStandIn) -> None:
    slow = '{"beliefs": {}, "goal_met": true, "action": null, "answer": "late"}'
    llm.responder = lambda request: Reply(text=slow, delay=5)
    node = agent_node(llm, routing={"agent_type": "belief_goal"}, budget={"max_seconds": 1})

    view = await ai.run(one_node("slow", node), {"task": "Hurry"})

    assert view.status == ExecutionStatus.FAILED, view.execution
    assert view.execution["error_type"] == "BudgetExceeded" and "max_seconds" in view.execution["error_message"]
    tasks = await ai.rows(AGENT_TASK, execution_id=view.execution["id"])
    assert tasks[0].status == "budget_exceeded"


async def test_a_provider_answering_garbage_fails_the_task_with_a_clear_error(ai: AI, llm: OpenAIStandIn) -> None:
    llm.script(Reply(body=b"<html>502 from a proxy</html>"))

    view = await ai.run(one_node("garbage", agent_node(llm, routing={"agent_type": "belief_goal"})), {"task": "x"})

    assert view.status == ExecutionStatus.FAILED
    assert "is not a chat completion" in view.execution["error_message"]
    tasks = await ai.rows(AGENT_TASK, execution_id=view.execution["id"])
    assert tasks[0].status == "failed" and tasks[0].error_type == "LLMResponseInvalid"


async def test_a_workflow_is_a_tool_run_as_a_sub_run(ai: AI, llm: OpenAIStandIn) -> None:
    helper = {"name": "lookup", "triggers": [{"type": "manual", "input_schema": {
        "type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}}],
        "nodes": [{"id": "found", "type": "core/set", "config": {"values": {"value": 7}},
                   "input": {"data": {"key": "{{ trigger.key }}"}}}]}  # fmt: skip
    await ai.service.save(Workflow.model_validate(helper))
    llm.script(
        Reply.json({"beliefs": {}, "goal_met": False, "action": {"tool": "lookup", "arguments": {"key": "k"}},
                    "answer": ""}),
        Reply.json({"beliefs": {}, "goal_met": True, "action": None, "answer": "It is 7."}),
    )  # fmt: skip
    node = agent_node(llm, tools=[{"workflow": "lookup"}], routing={"agent_type": "belief_goal"})

    view = await ai.run(one_node("uses-workflow", node), {"task": "Look k up"})

    assert view.status == ExecutionStatus.COMPLETED, view.execution
    observation = llm.requests[1].body["messages"][-1]["content"]
    assert '"value":7' in observation.replace(" ", "") and '"key":"k"' in observation.replace(" ", "")
    first = llm.requests[0].body["messages"][0]["content"]
    assert "lookup" in first  # the loop lists its tools to the model


async def test_the_router_follows_the_rules_and_an_override_wins(ai: AI) -> None:
    from synthral.services.agent_models import AgentConfig

    agents = ai.ai.agents
    base = {"llm": {"model": "m"}}
    recursive = agents.evaluate(AgentConfig.model_validate({**base, "routing": {"recursive_planning": True}}))
    fixing = agents.evaluate(AgentConfig.model_validate({**base, "routing": {"agent_self_fix": True}}))
    team = agents.evaluate(AgentConfig.model_validate({**base, "routing": {"agent_roles": 3}}))
    chosen = agents.evaluate(AgentConfig.model_validate({**base, "framework": "agent-loops/tasklist",
                                                         "routing": {"agent_self_fix": True}}))  # fmt: skip

    assert (recursive.framework, recursive.style) == ("agent-loops/tasklist", "recursive")
    assert (fixing.framework, fixing.style) == ("agent-loops/selffix", "self_fix")
    # No multi-role or tool-calling framework is installed here: the fallback is said out loud.
    assert "no installed framework offers 'multi_role'" in team.reason and team.framework.startswith("agent-loops/")
    assert chosen.overridden and chosen.rule_choice == "agent-loops/selffix" and "override" in chosen.reason


# -- a worker killed mid-agent -------------------------------------------------------------


@pytest.fixture
def worker_env(database: Database, ai_home: Path, wheelhouse: Path) -> dict[str, str]:
    return {**os.environ, "SYNTHRAL_HOME": str(ai_home), "SYNTHRAL_WHEELHOUSE": str(wheelhouse),
            "SYNTHRAL_DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
            "WORKFLOW_LEASE_SECONDS": "1.5"}  # fmt: skip


@pytest.mark.slow
async def test_a_run_killed_mid_agent_resumes_without_repeating_completed_tool_calls(
    database: Database, ai_home: Path, wheelhouse: Path, llm: OpenAIStandIn, sink: Sink, worker_env: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    act = {"beliefs": {}, "goal_met": False, "action": {"tool": "pay", "arguments": {"url": sink.url}}, "answer": ""}
    done = {"beliefs": {"paid": True}, "goal_met": True, "action": None, "answer": "Paid once."}
    llm.script(Reply.json(act), Reply(text=Reply.json(done).text, delay=30), Reply.json(done))
    plugins = PluginHost(make_settings(ai_home, wheelhouse))
    service = WorkflowService(database, plugins, Engine(database, plugins))
    pay = {"node": "noop/effect", "name": "pay", "description": "Pay"}
    saved = await service.save(Workflow.model_validate(
        one_node("payer", agent_node(llm, tools=[pay], routing={"agent_type": "belief_goal"}))
    ))  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []

    def start_worker() -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(processes)}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "synthral", "worker"], env=worker_env, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        processes.append(process)
        return process

    try:
        first = start_worker()
        execution_id = await service.start(saved.workflow_id, {"task": "Pay the bill"})
        deadline = asyncio.get_running_loop().time() + 90
        while len(llm.requests) < 2:  # the tool ran; the second LLM call hangs
            assert asyncio.get_running_loop().time() < deadline, (tmp_path / "worker-0.log").read_text()
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        start_worker()
        view = await wait(service, execution_id, lambda v: v.status in ExecutionStatus.TERMINAL, timeout=120)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        await plugins.close()

    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert view.execution["output"]["ai"]["output"] == "Paid once."
    assert len(sink.effects) == 1 and list(sink.effects.values()) == [1]  # the payment was not made twice
    async with database.engine.connect() as connection:
        task = (await connection.execute(select(AGENT_TASK).where(AGENT_TASK.c.execution_id == execution_id))).one()
        logs = (await connection.execute(select(AGENT_TASK_LOG).where(AGENT_TASK_LOG.c.task_id == task.id)
                                         .order_by(AGENT_TASK_LOG.c.seq))).all()  # fmt: skip
    assert task.attempts == 2 and task.usage["replayed"] == 2  # the first LLM answer and the payment
    assert any(log.kind == "tool_result" and "replayed" in log.message for log in logs)
    assert len(llm.requests) == 3  # the recorded first answer was not asked again
