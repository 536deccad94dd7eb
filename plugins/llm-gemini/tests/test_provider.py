"""The provider against a local server speaking Gemini's generateContent API, scripted per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from synthral_llm_gemini import GeminiGenerate

from synthral_sdk import BlobStore
from synthral_sdk.errors import ConfigurationError, EgressDenied, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient, call
from synthral_sdk.testing_llm import GeminiStandIn, Reply

USER = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]


@pytest.fixture
def llm() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as server:
        yield server


def complete(llm: GeminiStandIn, request: dict[str, Any], *, events: list[Any] | None = None, **config: Any) -> Any:
    return call(
        GeminiGenerate(),
        {"model": "gemini-test", "messages": USER, **request},
        config={"base_url": llm.url, "max_retry_wait": 0.05, **config},
        secrets={"api_key": "g-key"},
        events=(lambda kind, data: events.append((kind, data))) if events is not None else None,
    )


def test_a_chat_sends_the_system_instruction_and_the_key_in_a_header(llm: GeminiStandIn) -> None:
    llm.script(Reply("Hi.", input_tokens=8, output_tokens=2))

    result = complete(llm, {"temperature": 0.3})

    assert result["message"]["content"] == "Hi." and result["usage"] == {"input_tokens": 8, "output_tokens": 2}
    sent = llm.requests[0]
    assert sent.path == "/v1beta/models/gemini-test:generateContent" and sent.headers["x-goog-api-key"] == "g-key"
    assert sent.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "Hello?"}]}]
    assert sent.body["generationConfig"] == {"temperature": 0.3}


def test_function_calls_and_responses(llm: GeminiStandIn) -> None:
    llm.script(Reply.tool("weather", city="Paris"), Reply("Sunny."))
    parameters = {"type": "object", "additionalProperties": False, "properties": {"city": {"type": "string"}}}
    tool = {"name": "weather", "description": "Weather", "parameters": parameters}

    first = complete(llm, {"tools": [tool], "tool_choice": "weather"})
    call_ = first["message"]["tool_calls"][0]
    answer = {"role": "tool", "tool_call_id": call_["id"], "name": "weather", "content": '{"sky": "clear"}'}
    complete(llm, {"messages": [*USER, first["message"], answer]})

    assert first["finish_reason"] == "tool_calls" and call_["arguments"] == {"city": "Paris"}
    declared = llm.requests[0].body["tools"][0]["functionDeclarations"][0]
    assert "additionalProperties" not in declared["parameters"]  # Gemini refuses it: trimmed
    assert llm.requests[0].body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}
    }  # fmt: skip
    sent = llm.requests[1].body["contents"]
    assert sent[1] == {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]}
    assert sent[2]["parts"] == [{"functionResponse": {"name": "weather", "response": {"sky": "clear"}}}]


def test_json_schema_output(llm: GeminiStandIn) -> None:
    llm.script(Reply.json({"name": "Ada"}))
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "$schema": "x"}

    result = complete(llm, {"response_format": {"name": "p", "json_schema": schema}})

    assert result["parsed"] == {"name": "Ada"}
    generation = llm.requests[0].body["generationConfig"]
    assert generation["responseMimeType"] == "application/json" and "$schema" not in generation["responseSchema"]


def test_streaming_over_sse(llm: GeminiStandIn) -> None:
    llm.script(Reply("one two three", pieces=3))
    events: list[Any] = []

    result = complete(llm, {"stream": True}, events=events)

    assert result["message"]["content"] == "one two three" and result["usage"]["output_tokens"] == 7
    assert llm.requests[0].path == "/v1beta/models/gemini-test:streamGenerateContent?alt=sse"
    assert "".join(d["text"] for k, d in events if k == "llm.token") == "one two three"


def test_images_go_inline(llm: GeminiStandIn, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    ref = blobs.put(b"\xff\xd8 jpeg", media_type="image/jpeg")
    llm.script(Reply("A picture."))
    message = {"role": "user", "content": "What?", "parts": [{"type": "image", "image": ref.to_json()}]}

    call(GeminiGenerate(), {"model": "m", "messages": [message]}, config={"base_url": llm.url}, blobs=blobs,
         secrets={"api_key": "k"})  # fmt: skip

    assert llm.requests[0].body["contents"][0]["parts"][1]["inlineData"]["mimeType"] == "image/jpeg"


def test_retries_and_errors(llm: GeminiStandIn) -> None:
    llm.script(Reply.fail(429, "quota", retry_after=0.1), Reply("ok"), Reply.fail(403, "denied"),
               Reply(body=b'{"nothing": 1}'), Reply("cut", truncate=True))  # fmt: skip

    assert complete(llm, {})["attempts"] == 2
    with pytest.raises(ConfigurationError, match="refused the API key"):
        complete(llm, {})
    with pytest.raises(NonRetryableError, match="no 'candidates'"):
        complete(llm, {})
    with pytest.raises(RetryableError, match="before a finishReason"):
        complete(llm, {"stream": True}, max_retries=0)


def test_the_calls_network_policy_refuses_this_machine_and_private_addresses(llm: GeminiStandIn) -> None:
    llm.script(Reply("never sent"))
    for base_url in (llm.url, "http://10.0.0.1:8080"):
        with pytest.raises(EgressDenied) as denied:  # a server's policy, the default Context()'s
            call(GeminiGenerate(), {"model": "gemini-test", "messages": USER}, config={"base_url": base_url},
                 secrets={"api_key": "g-key"}, network=NetworkPolicy.server())  # fmt: skip
        assert str(urlsplit(base_url).hostname) in denied.value.message
        assert "SYNTHRAL_EGRESS_ALLOW" in denied.value.message
    assert llm.requests == []  # refused before connecting, and not retried


def test_through_the_runner(llm: GeminiStandIn) -> None:
    llm.script(Reply("over the pipe"))
    with RunnerClient("synthral-llm-gemini") as runner:
        output = runner.invoke("gemini", {"model": "m", "messages": USER}, operation="complete",
                               config={"base_url": llm.url}, context={"secrets": {"api_key": "k"}})  # fmt: skip
    assert output["message"]["content"] == "over the pipe"
