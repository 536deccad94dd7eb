"""The agent node built into the host: run a task on the agent framework the router picks.

The work happens in the host's agent service (``context.host.run_agent``): routing among
the installed frameworks, the granted tools, budgets, the record of every step.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, JsonValue

from synthral.errors import ConfigurationError
from synthral.services.agent_models import AgentConfig, AgentInput
from synthral_sdk import Context, Node, hookimpl
from synthral_sdk.types import JSONObject

__all__ = ["AgentOutput", "AgentRunNode", "synthral_nodes"]


@runtime_checkable
class _AgentHost(Protocol):
    async def run_agent(self, config: JSONObject, payload: JSONObject) -> JSONObject: ...


class AgentOutput(BaseModel):
    """What the agent produced, and how."""

    output: str
    data: JsonValue = None
    task_id: str
    framework: str
    routing: dict[str, JsonValue]
    usage: dict[str, JsonValue]
    steps: list[dict[str, JsonValue]] = []


class AgentRunNode(Node[AgentInput, AgentOutput, AgentConfig]):
    """Run an agent task with granted tools and a budget, on the best installed framework."""

    name = "run"
    title = "Agent"
    category = "AI"
    icon = "bot"

    async def run(self, inputs: AgentInput, config: AgentConfig, context: Context) -> AgentOutput:
        """Run the task through the host's agent service."""
        host = context.host if context.has_host else None
        if not isinstance(host, _AgentHost):
            raise ConfigurationError("agent/run runs only as a workflow step in the host's engine")
        output = await host.run_agent(config.model_dump(mode="json"), inputs.model_dump(mode="json", exclude_none=True))
        return AgentOutput.model_validate(output)


@hookimpl
def synthral_nodes() -> list[Node[Any, Any, Any]]:
    """The agent node."""
    return [AgentRunNode()]
