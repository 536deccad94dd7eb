"""The framework for real, its model a stand-in server behind the SDK's gateway, its tools the host's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from synthral_agent_crewai import CrewAgent

from synthral_sdk import AgentRequest, ToolSpec
from synthral_sdk.errors import BudgetExceeded
from synthral_sdk.testing import RunnerClient, call
from synthral_sdk.testing_llm import OpenAIStandIn, RecordedRequest, Reply, ScriptedHost

WEATHER = ToolSpec(
    name="weather",
    description="The weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def tool_then_answer(request: RecordedRequest) -> Reply:
    """Ask for the weather once; answer with what the tool said."""
    messages = request.body.get("messages", []) if isinstance(request.body, dict) else []
    results = [m for m in messages if m.get("role") == "tool"]
    if results:
        content = results[-1]["content"]
        text = content if isinstance(content, str) else json.dumps(content)
        return Reply(f"The weather: {text}")
    return Reply.tool("weather", city="Paris")


@pytest.fixture
def llm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn(responder=tool_then_answer) as server:
        yield server


def run(llm: OpenAIStandIn, **request: Any) -> tuple[dict[str, Any], ScriptedHost]:
    host = ScriptedHost(llm, tools={"weather": lambda args: {"sky": "sunny", "city": args["city"]}})
    output = call(CrewAgent(), AgentRequest(**{"model": "gpt-test", **request}).model_dump(mode="json"), host=host)
    return output, host


def test_the_agent_calls_the_hosts_tool_and_answers(llm: OpenAIStandIn) -> None:
    output, host = run(llm, task="What is the weather in Paris?", tools=[WEATHER])

    assert "sunny" in output["output"]
    assert [(c.name, c.arguments) for c in host.tool_calls] == [("weather", {"city": "Paris"})]
    assert host.completions[0].model == "gpt-test"
    assert any(t.name == "weather" for t in host.completions[0].tools)


def test_an_ungranted_tool_is_refused_by_the_host_not_the_framework(llm: OpenAIStandIn) -> None:
    host = ScriptedHost(llm, tools={})
    output = call(CrewAgent(), AgentRequest(model="m", task="Weather?", tools=[WEATHER]).model_dump(mode="json"),
                  host=host)  # fmt: skip

    assert "not granted" in output["output"]


def test_a_budget_the_host_enforces_stops_the_framework(llm: OpenAIStandIn) -> None:
    class Stingy(ScriptedHost):
        async def complete(self, request: Any) -> Any:
            raise BudgetExceeded("the agent has used 999 tokens, its budget's max_tokens is 10; raise it")

    with pytest.raises(BudgetExceeded, match="max_tokens"):
        call(CrewAgent(), AgentRequest(model="m", task="x", tools=[WEATHER]).model_dump(mode="json"), host=Stingy(llm))


def test_through_the_runner(llm: OpenAIStandIn) -> None:
    host = ScriptedHost(llm, tools={"weather": lambda args: "rainy"})
    with RunnerClient("synthral-agent-crewai", host=host) as runner:
        request = AgentRequest(model="m", task="Weather?", tools=[WEATHER]).model_dump(mode="json")
        output = runner.invoke("crew", request, operation="run_agent", timeout=120)
    assert "rainy" in output["output"]
