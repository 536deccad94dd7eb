"""The agent's loop on the real Chromium with a scripted model (the SDK's OpenAI stand-in)."""

from __future__ import annotations

from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import RunnerClient
from synthral_sdk.testing_llm import OpenAIStandIn, Reply


def config(llm: OpenAIStandIn, **more: object) -> dict[str, object]:
    return {"llm": {"base_url": f"{llm.url}/v1", "model": "gpt-test"}, **more}


def test_the_agent_reaches_its_goal_step_by_step(runner: RunnerClient, shop: str) -> None:
    with OpenAIStandIn() as llm:
        llm.script(
            Reply.json({"reason": "the large one is asked for", "action": "click", "target": 2}),
            Reply.json({"reason": "read the price", "action": "extract"}),
            Reply.json({"reason": "found it", "action": "done", "answer": "25.00"}),
        )
        request_id = runner.send_request(
            "invoke",
            {
                "capability": "agent", "operation": "run", "config": config(llm),
                "input": {"goal": "Find the price of the large widget", "start_url": shop},
                "context": {"network": NetworkPolicy.local().to_wire()},  # the shop is on this machine
            },
        )  # fmt: skip
        answer = runner.wait(request_id, timeout=120)
        first, second = llm.requests[0].body["messages"][1]["content"], llm.requests[1].body["messages"][1]["content"]

    assert isinstance(answer, dict)
    out = answer["output"]
    assert out["done"] is True and out["answer"] == "25.00" and out["stopped"] == "done"
    assert [step["action"] for step in out["steps"]] == ["click", "extract", "done"]
    assert "[2] <a> Large widget" in first and "Goal: Find the price of the large widget" in first
    assert second.splitlines()[1] == f"URL: {shop}/item/l" and "Price: 25.00" in second
    assert "Price: 25.00" in out["steps"][1]["value"]
    assert [kind for kind, _ in runner.events(request_id)] == ["agent.step"] * 3


def test_the_agent_stops_at_its_step_budget(runner: RunnerClient, shop: str) -> None:
    with OpenAIStandIn() as llm:
        llm.script(*[Reply.json({"reason": "look around", "action": "scroll"})] * 3)
        out = runner.invoke(
            "agent", {"goal": "Never satisfied", "start_url": shop}, config=config(llm, max_steps=3), timeout=120
        )
        asked = len(llm.requests)

    assert out["done"] is False and out["stopped"] == "max_steps"
    assert len(out["steps"]) == 3 and asked == 3


def test_an_impossible_decision_is_recorded_and_the_agent_goes_on(runner: RunnerClient, shop: str) -> None:
    with OpenAIStandIn() as llm:
        llm.script(
            Reply.json({"reason": "?", "action": "fly"}),
            Reply.json({"reason": "no target", "action": "click"}),
            Reply.json({"action": "done", "answer": None}),
        )
        out = runner.invoke("agent", {"goal": "Anything", "start_url": shop}, config=config(llm), timeout=120)
        feedback = llm.requests[2].body["messages"][1]["content"]

    assert [s["ok"] for s in out["steps"]] == [False, False, True]
    assert "unknown action 'fly'" in out["steps"][0]["error"]
    assert "needs a 'target'" in out["steps"][1]["error"]
    assert "failed: unknown action 'fly'" in feedback
