"""The provider against a local server speaking Anthropic's Messages API, scripted per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from synthral_llm_anthropic import AnthropicMessages

from synthral_sdk import BlobStore
from synthral_sdk.errors import ConfigurationError, EgressDenied, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient, call
from synthral_sdk.testing_llm import AnthropicStandIn, Reply

USER = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]


@pytest.fixture
def llm() -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn() as server:
        yield server


def complete(llm: AnthropicStandIn, request: dict[str, Any], *, events: list[Any] | None = None, **config: Any) -> Any:
    return call(
        AnthropicMessages(),
        {"model": "claude-test", "messages": USER, **request},
        config={"base_url": llm.url, "max_retry_wait": 0.05, **config},
        secrets={"api_key": "sk-ant-test"},
        events=(lambda kind, data: events.append((kind, data))) if events is not None else None,
    )


def test_a_chat_sends_system_headers_and_max_tokens(llm: AnthropicStandIn) -> None:
    llm.script(Reply("Hi.", input_tokens=20, output_tokens=3))

    result = complete(llm, {})

    assert result["message"]["content"] == "Hi." and result["usage"] == {"input_tokens": 20, "output_tokens": 3}
    sent = llm.requests[0]
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body["system"] == "Be brief." and sent.body["max_tokens"] == 4096
    assert sent.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello?"}]}]


def test_tool_use_round_trip(llm: AnthropicStandIn) -> None:
    llm.script(Reply.tool("weather", city="Paris"), Reply("Sunny."))
    tool = {"name": "weather", "description": "Weather", "parameters": {"type": "object"}}

    first = complete(llm, {"tools": [tool], "tool_choice": "required"})
    call_ = first["message"]["tool_calls"][0]
    result = {"role": "tool", "tool_call_id": call_["id"], "content": "sunny"}
    second = complete(llm, {"messages": [*USER, first["message"], result]})

    assert first["finish_reason"] == "tool_calls" and call_["arguments"] == {"city": "Paris"}
    assert llm.requests[0].body["tools"][0]["input_schema"] == {"type": "object"}
    assert llm.requests[0].body["tool_choice"] == {"type": "any"}
    sent = llm.requests[1].body["messages"]
    assert sent[1]["content"][-1] == {
        "type": "tool_use",
        "id": call_["id"],
        "name": "weather",
        "input": {"city": "Paris"},
    }
    assert sent[2]["content"] == [{"type": "tool_result", "tool_use_id": call_["id"], "content": "sunny"}]
    assert second["message"]["content"] == "Sunny."


def test_json_schema_output_through_a_forced_tool(llm: AnthropicStandIn) -> None:
    llm.script(Reply.tool("person", name="Ada", age=36))
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}

    result = complete(llm, {"response_format": {"name": "person", "json_schema": schema}})

    assert result["parsed"] == {"name": "Ada", "age": 36} and result["message"]["tool_calls"] == []
    assert llm.requests[0].body["tool_choice"] == {"type": "tool", "name": "person"}


def test_streaming_emits_text_deltas_and_reads_usage(llm: AnthropicStandIn) -> None:
    llm.script(Reply("streamed words here", pieces=3, output_tokens=9), Reply.tool("lookup", q="x"))
    events: list[Any] = []

    result = complete(llm, {"stream": True}, events=events)
    tools = complete(llm, {"stream": True})

    assert result["message"]["content"] == "streamed words here" and result["usage"]["output_tokens"] == 9
    assert "".join(d["text"] for k, d in events if k == "llm.token") == "streamed words here"
    assert tools["message"]["tool_calls"][0]["arguments"] == {"q": "x"}


def test_images_go_as_base64_blocks(llm: AnthropicStandIn, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(b"\x89PNG fake", media_type="image/png")
    llm.script(Reply("A picture."))
    message = {"role": "user", "content": "What?", "parts": [{"type": "image", "image": ref.to_json()}]}

    call(AnthropicMessages(), {"model": "m", "messages": [message]}, config={"base_url": llm.url}, blobs=blobs,
         secrets={"api_key": "k"})  # fmt: skip

    block = llm.requests[0].body["messages"][0]["content"][1]
    assert block["type"] == "image" and block["source"]["media_type"] == "image/png"


def test_overload_and_rate_limits_are_retried(llm: AnthropicStandIn) -> None:
    llm.script(Reply.fail(529, "overloaded"), Reply.fail(429, "slow", retry_after=0.1), Reply("ok"))

    result = complete(llm, {})

    assert result["message"]["content"] == "ok" and result["attempts"] == 3


def test_errors_are_clear(llm: AnthropicStandIn) -> None:
    llm.script(Reply.fail(401, "bad key"), Reply.fail(400, "too long"), Reply(body=b"garbage"),
               Reply("cut", truncate=True))  # fmt: skip

    with pytest.raises(ConfigurationError, match="refused the API key"):
        complete(llm, {})
    with pytest.raises(NonRetryableError, match="too long"):
        complete(llm, {})
    with pytest.raises(NonRetryableError, match="not a Messages API answer"):
        complete(llm, {})
    with pytest.raises(RetryableError, match="before message_stop"):
        complete(llm, {"stream": True}, max_retries=0)


def test_a_missing_key_is_named() -> None:
    with pytest.raises(ConfigurationError, match="no secret 'api_key'"):
        call(AnthropicMessages(), {"model": "m", "messages": USER}, config={"base_url": "http://127.0.0.1:1"})


def test_the_calls_network_policy_refuses_this_machine_and_private_addresses(llm: AnthropicStandIn) -> None:
    llm.script(Reply("never sent"))
    for base_url in (llm.url, "http://10.0.0.1:8080"):
        with pytest.raises(EgressDenied) as denied:  # a server's policy, the default Context()'s
            call(AnthropicMessages(), {"model": "claude-test", "messages": USER}, config={"base_url": base_url},
                 secrets={"api_key": "sk-ant-test"}, network=NetworkPolicy.server())  # fmt: skip
        assert str(urlsplit(base_url).hostname) in denied.value.message
        assert "SYNTHRAL_EGRESS_ALLOW" in denied.value.message
    assert llm.requests == []  # refused before connecting, and not retried


def test_through_the_runner(llm: AnthropicStandIn) -> None:
    llm.script(Reply("over the pipe"))
    with RunnerClient("synthral-llm-anthropic") as runner:
        output = runner.invoke("anthropic", {"model": "m", "messages": USER}, operation="complete",
                               config={"base_url": llm.url}, context={"secrets": {"api_key": "k"}})  # fmt: skip
    assert output["message"]["content"] == "over the pipe"
