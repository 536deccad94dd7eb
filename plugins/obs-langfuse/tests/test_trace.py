"""LLM calls and agent steps reach a Langfuse stand-in as OTLP spans sent by the official SDK, via the runner."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import PUBLIC_KEY, SECRET_KEY, Langfuse

from synthral_sdk.errors import ConfigInvalid, RetryableError
from synthral_sdk.testing import RunnerClient

KEYS = {"public_key": PUBLIC_KEY, "secret_key": SECRET_KEY}
RUN = [
    {
        "type": "generation",
        "name": "llm.complete",
        "execution_id": "exec-42",
        "workflow": "support",
        "node_id": "answer",
        "model": "gpt-4o-mini",
        "input": {"messages": [{"role": "user", "content": "my key is sk-proj-ABCDEFGHIJKLMNOP, help"}]},
        "output": {"content": "Rotate it."},
        "usage": {"input": 120, "output": 30},
        "cost_usd": 0.0004,
        "latency_ms": 850,
    },
    {
        "type": "agent_step",
        "name": "tool_call",
        "execution_id": "exec-42",
        "node_id": "agent",
        "input": {"tool": "search", "api_key": "plain-value-that-is-secret"},
        "output": "3 results",
    },
]


@pytest.fixture(scope="module")
def runner() -> Iterator[RunnerClient]:
    with RunnerClient("synthral-obs-langfuse") as client:
        yield client


def _by_name(spans: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(span["name"]): span for span in spans}


def test_a_runs_llm_call_and_agent_step_become_one_trace(runner: RunnerClient, langfuse: Langfuse) -> None:
    output = runner.invoke(
        "trace", {"observations": RUN}, config={"host": langfuse.url, "environment": "prod"},
        context={"secrets": KEYS},
    )  # fmt: skip
    spans = _by_name(langfuse.wait(2))
    assert output["sent"] == 2 and len(output["trace_ids"]) == 1
    generation, step = spans["llm.complete"], spans["tool_call"]
    assert generation["trace_id"] == step["trace_id"] == output["trace_ids"][0]
    attributes = generation["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["langfuse.observation.type"] == "generation"
    assert attributes["langfuse.observation.model.name"] == "gpt-4o-mini"
    assert json.loads(attributes["langfuse.observation.usage_details"]) == {"input": 120, "output": 30, "total": 150}
    assert json.loads(attributes["langfuse.observation.cost_details"]) == {"total": 0.0004}
    assert json.loads(attributes["langfuse.observation.metadata.synthral.execution_id"]) == "exec-42"
    assert attributes["langfuse.environment"] == "prod"
    assert generation["duration_ns"] == pytest.approx(850_000_000, rel=0.2)
    assert step["attributes"]["langfuse.observation.type"] == "agent"  # type: ignore[index]
    assert langfuse.auth[0] == "Basic " + __import__("base64").b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()


def test_secrets_are_masked_before_they_leave(runner: RunnerClient, langfuse: Langfuse) -> None:
    granted = {**KEYS, "extra": "hunter2-the-granted-value"}
    observations = [*RUN, {"type": "span", "name": "echo", "input": "the token hunter2-the-granted-value"}]
    runner.invoke("trace", {"observations": observations}, config={"host": langfuse.url},
                  context={"secrets": granted})  # fmt: skip
    langfuse.wait(3)
    sent = b"".join(langfuse.raw)
    for secret in (b"sk-proj-ABCDEFGHIJKLMNOP", b"plain-value-that-is-secret", b"hunter2-the-granted-value",
                   SECRET_KEY.encode()):  # fmt: skip
        assert secret not in sent
    assert b"[masked]" in sent and b"Rotate it." in sent


def test_content_can_be_left_out(runner: RunnerClient, langfuse: Langfuse) -> None:
    runner.invoke("trace", {"observations": RUN[:1]}, config={"host": langfuse.url, "capture_content": False},
                  context={"secrets": KEYS})  # fmt: skip
    (span,) = langfuse.wait(1)
    attributes = span["attributes"]
    assert "langfuse.observation.input" not in attributes and "langfuse.observation.output" not in attributes
    assert attributes["langfuse.observation.model.name"] == "gpt-4o-mini"


def test_missing_or_swapped_keys_are_named_with_the_fix(runner: RunnerClient) -> None:
    with pytest.raises(ConfigInvalid, match="API keys"):
        runner.invoke("trace", {"observations": RUN})
    with pytest.raises(ConfigInvalid, match="pk-lf-") as swapped:
        runner.invoke("trace", {"observations": RUN},
                      context={"secrets": {"public_key": SECRET_KEY, "secret_key": PUBLIC_KEY}})  # fmt: skip
    assert SECRET_KEY not in str(swapped.value)


def test_refused_keys_are_a_retryable_failure(runner: RunnerClient, langfuse: Langfuse) -> None:
    with pytest.raises(RetryableError, match="did not accept"):
        runner.invoke("trace", {"observations": RUN}, config={"host": langfuse.url},
                      context={"secrets": {"public_key": PUBLIC_KEY, "secret_key": "sk-lf-wrong-one"}})  # fmt: skip
    assert langfuse.spans == []
