"""The loops against the scripted host: the model is a stand-in server, tools are functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from synthral_agent_loops import BeliefGoalLoop, SelfFixLoop, TaskListLoop

from synthral_sdk import AgentRequest, ToolSpec
from synthral_sdk.errors import NonRetryableError
from synthral_sdk.testing import RunnerClient, call
from synthral_sdk.testing_llm import OpenAIStandIn, Reply, ScriptedHost

SEARCH = ToolSpec(name="search", description="Search the web", parameters={"type": "object"})


@pytest.fixture
def llm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as server:
        yield server


def run(
    capability: Any, llm: OpenAIStandIn, functions: dict[str, Any], **request: Any
) -> tuple[dict[str, Any], ScriptedHost]:
    host = ScriptedHost(llm, tools=functions)
    output = call(capability, AgentRequest(**request).model_dump(mode="json"), host=host)
    return output, host


def test_the_task_list_plans_works_with_tools_and_answers(llm: OpenAIStandIn) -> None:
    llm.script(
        Reply.json({"tasks": ["find the population", "write it down"]}),
        Reply.tool("search", q="population of Paris"),
        Reply("2.1 million"),
        Reply("Paris has 2.1 million people."),
        Reply("Paris: 2.1 million inhabitants."),
    )

    output, host = run(TaskListLoop(), llm, {"search": lambda a: {"hits": ["2.1M"]}}, task="Population of Paris?",
                       tools=[SEARCH])  # fmt: skip

    assert output["output"] == "Paris: 2.1 million inhabitants."
    assert [c.arguments for c in host.tool_calls] == [{"q": "population of Paris"}]
    assert [s.kind for s in host.steps] == ["plan", "thought", "thought"]
    assert output["usage"]["input_tokens"] == 5 * 12


def test_recursive_planning_adds_the_tasks_results_call_for(llm: OpenAIStandIn) -> None:
    llm.script(
        Reply.json({"tasks": ["first"]}),
        Reply("first done"),
        Reply.json({"tasks": ["second"]}),
        Reply("second done"),
        Reply.json({"tasks": []}),
        Reply("all done"),
    )

    output, host = run(TaskListLoop(), llm, {}, task="Goal", options={"style": "recursive"})

    assert output["output"] == "all done"
    assert [s.content for s in host.steps if s.kind == "plan"] == ["first", "added: second"]


def test_self_fix_repairs_until_the_check_tool_passes(llm: OpenAIStandIn) -> None:
    llm.script(Reply("def f(): return 1"), Reply("def f(): return 2"))
    verdicts = iter([{"ok": False, "problems": ["f() must return 2"]}, {"ok": True, "problems": []}])

    output, host = run(SelfFixLoop(), llm, {"run_tests": lambda args: next(verdicts)}, task="Write f",
                       options={"check_tool": "run_tests"})  # fmt: skip

    assert output["output"] == "def f(): return 2"
    assert [c.arguments["candidate"] for c in host.tool_calls] == ["def f(): return 1", "def f(): return 2"]
    assert "f() must return 2" in host.completions[1].messages[-1].content


def test_self_fix_gives_up_after_max_rounds_with_the_last_problems(llm: OpenAIStandIn) -> None:
    llm.script(Reply("bad"), Reply.json({"ok": False, "problems": ["wrong"]}), Reply("still bad"),
               Reply.json({"ok": False, "problems": ["still wrong"]}))  # fmt: skip

    with pytest.raises(NonRetryableError, match="after 2 rounds; last problems: still wrong"):
        run(SelfFixLoop(), llm, {}, task="x", options={"max_rounds": 2})


def test_belief_goal_acts_observes_and_stops_at_the_goal(llm: OpenAIStandIn) -> None:
    llm.script(
        Reply.json({"beliefs": {"door": "unknown"}, "goal_met": False,
                    "action": {"tool": "look", "arguments": {"at": "door"}}, "answer": ""}),
        Reply.json({"beliefs": {"door": "open"}, "goal_met": True, "action": None, "answer": "The door is open."}),
    )  # fmt: skip

    output, host = run(BeliefGoalLoop(), llm, {"look": lambda a: "it is open"}, task="Is the door open?")

    assert output["output"] == "The door is open."
    assert "it is open" in host.completions[1].messages[-1].content


def test_garbage_where_json_is_needed_is_a_clear_error(llm: OpenAIStandIn) -> None:
    llm.script(Reply("not json at all"))

    with pytest.raises(NonRetryableError, match="did not answer with JSON"):
        run(TaskListLoop(), llm, {}, task="x")


def test_through_the_runner(llm: OpenAIStandIn) -> None:
    llm.script(Reply.json({"beliefs": {}, "goal_met": True, "action": None, "answer": "done"}))
    host = ScriptedHost(llm)
    with RunnerClient("synthral-agent-loops", host=host) as runner:
        output = runner.invoke("beliefgoal", AgentRequest(task="t").model_dump(mode="json"), operation="run_agent")
    assert output["output"] == "done" and host.steps[0].kind == "thought"
