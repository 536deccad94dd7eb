"""Plugin module for host-callback tests: a tiny agent driving an OpenAI client at the gateway."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from synthral_sdk import AgentFramework, AgentRequest, AgentResult, AgentStep, Context, NoConfig, hookimpl
from synthral_sdk.agents import HostBridge, openai_gateway


def post(base_url: str, api_key: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        base_url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


class LoopAgent(AgentFramework[NoConfig]):
    """Asks the model, runs the tools it calls through the host, until it answers."""

    name = "loop"
    framework = "fixture"
    styles = ("tool_calling",)

    def run_agent(self, request: AgentRequest, config: NoConfig, context: Context) -> AgentResult:
        bridge = HostBridge(context)
        steps: list[AgentStep] = []
        tools = [{"type": "function", "function": t.model_dump(mode="json")} for t in request.tools]
        messages: list[dict[str, Any]] = [{"role": "user", "content": request.task}]
        with openai_gateway(context) as endpoint:
            for _ in range(request.max_steps):
                answer = post(endpoint.base_url, endpoint.api_key, {"model": request.model or "m", "messages": messages,
                                                                    "tools": tools})  # fmt: skip
                message = answer["choices"][0]["message"]
                messages.append(message)
                calls = message.get("tool_calls") or []
                if not calls:
                    context.emit("agent.done", {"text": message["content"]})
                    return AgentResult(output=message["content"] or "", steps=steps)
                for call in calls:
                    arguments = json.loads(call["function"]["arguments"])
                    result = bridge.call_tool(call["function"]["name"], arguments, call["id"])
                    steps.append(AgentStep(kind="tool_result", content=result.as_text()))
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": result.as_text()})
        return AgentResult(output="gave up", steps=steps)


@hookimpl
def synthral_agent_frameworks() -> list[AgentFramework[NoConfig]]:
    return [LoopAgent()]
