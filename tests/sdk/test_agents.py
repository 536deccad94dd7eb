"""Host callbacks (protocol 1.1), the OpenAI gateway and the LLM stand-ins, in process and through a runner."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from synthral_sdk import AgentRequest, ToolSpec
from synthral_sdk.errors import ConfigurationError
from synthral_sdk.testing import RunnerClient, call
from synthral_sdk.testing_llm import OpenAIStandIn, Reply, ScriptedHost

sys.path.insert(0, str(Path(__file__).parent / "modules"))
from runner_agent import LoopAgent

MODULES = str(Path(__file__).parent / "modules")
WEATHER = ToolSpec(name="weather", description="The weather in a city", parameters={"type": "object"})


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_openai_stand_in_answers_its_script_in_order() -> None:
    with OpenAIStandIn() as llm:
        llm.script(Reply.tool("weather", city="Paris"), Reply("Sunny."), Reply.fail(429, "slow down", retry_after=2))
        first = json.loads(post(llm.url + "/chat/completions", {"model": "m", "messages": []})[2])
        second = json.loads(post(llm.url + "/chat/completions", {"model": "m", "messages": []})[2])
        status, headers, body = post(llm.url + "/chat/completions", {"model": "m", "messages": []})
        exhausted = post(llm.url + "/chat/completions", {"model": "m", "messages": []})

    call_ = first["choices"][0]["message"]["tool_calls"][0]
    assert (call_["function"]["name"], json.loads(call_["function"]["arguments"])) == ("weather", {"city": "Paris"})
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert second["choices"][0]["message"]["content"] == "Sunny." and second["usage"]["total_tokens"] == 19
    assert status == 429 and headers["Retry-After"] == "2" and json.loads(body)["error"]["message"] == "slow down"
    assert exhausted[0] == 500 and b"script is exhausted" in exhausted[2]
    assert len(llm.requests) == 4


def test_the_openai_stand_in_streams_text_tool_calls_and_usage() -> None:
    with OpenAIStandIn() as llm:
        llm.script(Reply("Hello there", pieces=3), Reply.tool("weather", city="Oslo"))
        _, _, text = post(llm.url + "/chat/completions", {"stream": True, "stream_options": {"include_usage": True}})
        _, _, calls = post(llm.url + "/chat/completions", {"stream": True})

    events = [json.loads(line[6:]) for line in text.decode().split("\n\n") if line.startswith("data: {")]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]) == "Hello there"
    assert events[-1]["usage"]["completion_tokens"] == 7 and text.endswith(b"data: [DONE]\n\n")
    pieces = [json.loads(line[6:]) for line in calls.decode().split("\n\n") if line.startswith("data: {")]
    arguments = "".join(
        d["function"].get("arguments", "") for p in pieces for d in p["choices"][0]["delta"].get("tool_calls", [])
    )
    assert json.loads(arguments) == {"city": "Oslo"}


def test_an_agent_reaches_the_llm_through_the_gateway_and_tools_through_the_host() -> None:
    with OpenAIStandIn() as llm:
        llm.script(Reply.tool("weather", city="Paris"), Reply("It is sunny in Paris."))
        host = ScriptedHost(llm, tools={"weather": lambda args: {"sky": "sunny", "city": args["city"]}})
        events: list[tuple[str, object]] = []

        output = call(
            LoopAgent(),
            AgentRequest(task="Weather in Paris?", tools=[WEATHER], model="gpt-test").model_dump(),
            host=host,
            events=lambda kind, data: events.append((kind, data)),
        )

    assert output["output"] == "It is sunny in Paris."
    assert [c.name for c in host.tool_calls] == ["weather"] and host.tool_calls[0].arguments == {"city": "Paris"}
    assert host.completions[0].tools[0].name == "weather" and host.completions[0].model == "gpt-test"
    assert host.completions[1].messages[-1].role == "tool" and "sunny" in host.completions[1].messages[-1].content
    assert host.completions[1].messages[-1].name == "weather"  # the gateway names the tool that answered
    assert events == [("agent.done", {"text": "It is sunny in Paris."})]


def test_a_tool_the_host_does_not_grant_is_refused_and_the_model_is_told() -> None:
    with OpenAIStandIn() as llm:
        llm.script(Reply.tool("delete_everything"), Reply("I may not do that."))
        host = ScriptedHost(llm, tools={"weather": lambda args: "sunny"})

        output = call(LoopAgent(), AgentRequest(task="Clean up").model_dump(), host=host)

    assert output["output"] == "I may not do that."
    assert "not granted" in host.completions[1].messages[-1].content


def test_without_host_services_the_call_says_how_to_get_them() -> None:
    with pytest.raises(ConfigurationError, match="no host services"):
        call(LoopAgent(), AgentRequest(task="x").model_dump())


def test_host_callbacks_cross_the_process_boundary() -> None:
    with OpenAIStandIn() as llm:
        llm.script(Reply.tool("weather", city="Rome"), Reply("Warm in Rome."))
        host = ScriptedHost(llm, tools={"weather": lambda args: {"sky": "clear"}})
        client = RunnerClient(
            env={"PYTHONPATH": MODULES},
            initialize={"entryPoints": [{"name": "fixture", "value": "runner_agent"}]},
            host=host,
        )
        with client:
            output = client.invoke(
                "loop", AgentRequest(task="Rome?", tools=[WEATHER]).model_dump(), operation="run_agent"
            )
            events = [n["params"] for n in client.notifications if n["method"] == "$/event"]

    assert output["output"] == "Warm in Rome."
    assert [c.arguments for c in host.tool_calls] == [{"city": "Rome"}]
    assert events and events[0]["kind"] == "agent.done"  # type: ignore[index]


def test_a_runner_offered_no_host_services_refuses_callbacks_clearly() -> None:
    client = RunnerClient(
        env={"PYTHONPATH": MODULES}, initialize={"entryPoints": [{"name": "fixture", "value": "runner_agent"}]}
    )
    with client, pytest.raises(ConfigurationError, match="no host services"):
        client.invoke("loop", AgentRequest(task="x").model_dump(), operation="run_agent")
