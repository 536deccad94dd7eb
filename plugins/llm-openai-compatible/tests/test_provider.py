"""The provider against a local server speaking OpenAI's protocol, scripted per test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from synthral_llm_openai import OpenAICompatible

from synthral_sdk import BlobStore, CompletionRequest
from synthral_sdk.errors import ConfigurationError, EgressDenied, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient, call
from synthral_sdk.testing_llm import OpenAIStandIn, Reply

USER = [{"role": "user", "content": "Hello?"}]


@pytest.fixture
def llm() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as server:
        yield server


def complete(llm: OpenAIStandIn, request: dict[str, Any], *, events: list[Any] | None = None, **config: Any) -> Any:
    config = {"base_url": llm.url, "max_retry_wait": 0.05, **config}
    return call(
        OpenAICompatible(),
        {"model": "gpt-test", "messages": USER, **request},
        config=config,
        secrets={"api_key": "sk-test-key"},
        events=(lambda kind, data: events.append((kind, data))) if events is not None else None,
    )


def test_a_chat_returns_the_answer_usage_and_sends_the_key(llm: OpenAIStandIn) -> None:
    llm.script(Reply("Hi there.", input_tokens=30, output_tokens=4))

    result = complete(llm, {"temperature": 0.2, "max_tokens": 50})

    assert result["message"] == {"role": "assistant", "content": "Hi there.", "tool_calls": [], "tool_call_id": None,
                                 "name": None, "parts": []}  # fmt: skip
    assert result["usage"] == {"input_tokens": 30, "output_tokens": 4} and result["attempts"] == 1
    sent = llm.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    assert sent.body["temperature"] == 0.2 and sent.body["max_tokens"] == 50 and sent.body["model"] == "gpt-test"


def test_tools_go_out_and_tool_calls_come_back(llm: OpenAIStandIn) -> None:
    llm.script(Reply.tool("weather", city="Paris"))
    tool = {"name": "weather", "description": "Weather", "parameters": {"type": "object"}}

    result = complete(llm, {"tools": [tool], "tool_choice": "weather"})

    assert result["finish_reason"] == "tool_calls"
    assert result["message"]["tool_calls"] == [{"id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}]
    assert llm.requests[0].body["tools"][0]["function"]["name"] == "weather"
    assert llm.requests[0].body["tool_choice"] == {"type": "function", "function": {"name": "weather"}}


def test_a_tool_result_goes_back_with_its_call_id(llm: OpenAIStandIn) -> None:
    llm.script(Reply("Sunny."))
    messages = [
        *USER,
        {"role": "assistant", "tool_calls": [{"id": "c1", "name": "weather", "arguments": {"city": "Oslo"}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "weather", "content": '{"sky": "clear"}'},
    ]

    complete(llm, {"messages": messages})

    sent = llm.requests[0].body["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city":"Oslo"}'}
    assert sent[2] == {"role": "tool", "content": '{"sky": "clear"}', "tool_call_id": "c1"}


def test_json_schema_output_is_asked_for_and_parsed(llm: OpenAIStandIn) -> None:
    llm.script(Reply.json({"name": "Ada", "age": 36}))
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}

    result = complete(llm, {"response_format": {"name": "person", "json_schema": schema}})

    assert result["parsed"] == {"name": "Ada", "age": 36}
    assert llm.requests[0].body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}
    }  # fmt: skip


def test_streaming_emits_tokens_and_assembles_the_answer(llm: OpenAIStandIn) -> None:
    llm.script(Reply("one two three four", pieces=4), Reply.tool("lookup", q="x"))
    events: list[Any] = []

    result = complete(llm, {"stream": True}, events=events)
    tools = complete(llm, {"stream": True})

    assert result["message"]["content"] == "one two three four"
    assert [data["text"] for kind, data in events if kind == "llm.token"] == ["one t", "wo th", "ree f", "our"]
    assert result["usage"]["output_tokens"] == 7  # from the usage chunk the provider asked for
    assert llm.requests[0].body["stream_options"] == {"include_usage": True}
    assert tools["message"]["tool_calls"][0]["arguments"] == {"q": "x"}


def test_images_from_the_blob_store_go_inline(llm: OpenAIStandIn, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(b"\x89PNG fake", media_type="image/png")
    llm.script(Reply("A picture."))
    message = {"role": "user", "content": "What is it?", "parts": [{"type": "image", "image": ref.to_json()}]}

    call(OpenAICompatible(), {"model": "m", "messages": [message]}, config={"base_url": llm.url}, blobs=blobs,
         secrets={"api_key": "k"})  # fmt: skip

    content = llm.requests[0].body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What is it?"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_rate_limits_are_retried_after_what_retry_after_says(llm: OpenAIStandIn) -> None:
    llm.script(Reply.fail(429, "slow down", retry_after=0.3), Reply.fail(503, "busy"), Reply("Finally."))

    started = time.monotonic()
    result = complete(llm, {}, max_retry_wait=1.0)

    assert result["message"]["content"] == "Finally." and result["attempts"] == 3
    assert time.monotonic() - started >= 0.3
    assert len(llm.requests) == 3


def test_retries_stop_at_max_retries_with_the_servers_message(llm: OpenAIStandIn) -> None:
    llm.script(*[Reply.fail(500, "boom")] * 3)

    with pytest.raises(RetryableError, match="answered 500: boom") as caught:
        complete(llm, {}, max_retries=2)

    assert caught.value.details["status"] == 500 and len(llm.requests) == 3


def test_client_errors_are_not_retried_and_say_what_to_fix(llm: OpenAIStandIn) -> None:
    llm.script(Reply.fail(401, "bad key"), Reply.fail(404, "no such model"), Reply.fail(400, "messages too long"))

    with pytest.raises(ConfigurationError, match="refused the API key"):
        complete(llm, {})
    with pytest.raises(ConfigurationError, match="check base_url and the model name"):
        complete(llm, {})
    with pytest.raises(NonRetryableError, match="messages too long"):
        complete(llm, {})
    assert len(llm.requests) == 3


def test_garbage_is_a_clear_error(llm: OpenAIStandIn) -> None:
    llm.script(Reply(body=b"<html>proxy error</html>"), Reply(body=json.dumps({"choices": []}).encode()))

    with pytest.raises(NonRetryableError, match="not a chat completion") as first:
        complete(llm, {})
    with pytest.raises(NonRetryableError, match="no 'choices'"):
        complete(llm, {})
    assert first.value.error_type == "LLMResponseInvalid"


def test_a_truncated_stream_is_retried_then_reported(llm: OpenAIStandIn) -> None:
    llm.script(Reply("cut off here", truncate=True), Reply("whole answer"), Reply("never", truncate=True))

    result = complete(llm, {"stream": True})
    assert result["message"]["content"] == "whole answer" and result["attempts"] == 2

    llm.script(Reply("cut", truncate=True))
    with pytest.raises(RetryableError, match="ended before the answer was complete"):
        complete(llm, {"stream": True}, max_retries=1)


def test_a_slow_server_times_out_per_attempt(llm: OpenAIStandIn) -> None:
    llm.script(Reply("late", delay=2.0), Reply("late", delay=2.0))

    with pytest.raises(RetryableError, match="could not reach"):
        complete(llm, {}, timeout=0.2, max_retries=1)


def test_the_calls_network_policy_refuses_this_machine_and_private_addresses(llm: OpenAIStandIn) -> None:
    llm.script(Reply("never sent"))
    for base_url in (llm.url, "http://10.0.0.1:11434/v1"):
        with pytest.raises(EgressDenied) as denied:  # a server's policy, the default Context()'s
            call(OpenAICompatible(), {"model": "m", "messages": USER}, config={"base_url": base_url},
                 secrets={"api_key": "k"}, network=NetworkPolicy.server())  # fmt: skip
        assert str(urlsplit(base_url).hostname) in denied.value.message
        assert "SYNTHRAL_EGRESS_ALLOW" in denied.value.message
    assert llm.requests == []  # refused before connecting, and not retried


def test_azure_puts_the_deployment_in_the_path(llm: OpenAIStandIn) -> None:
    llm.script(Reply("hi"))
    complete(llm, {}, flavor="azure", base_url=llm.url.removesuffix("/v1"))

    assert llm.requests[0].path.startswith("/openai/deployments/gpt-test/chat/completions?api-version=")
    assert llm.requests[0].headers["api-key"] == "sk-test-key"


def test_through_the_runner(llm: OpenAIStandIn) -> None:
    llm.script(Reply("over the pipe", pieces=2))
    request = CompletionRequest.model_validate({"model": "m", "messages": USER, "stream": True})
    with RunnerClient("synthral-llm-openai-compatible") as runner:
        output = runner.invoke(
            "openai",
            request.model_dump(mode="json"),
            operation="complete",
            config={"base_url": llm.url},
            context={"secrets": {"api_key": "k"}},
        )
        events = [n["params"] for n in runner.notifications if n["method"] == "$/event"]
    assert output["message"]["content"] == "over the pipe"
    assert [e["data"]["text"] for e in events] == ["over th", "e pipe"]  # type: ignore[index]
