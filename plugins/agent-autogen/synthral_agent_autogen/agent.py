"""AutoGen AgentChat: one tool-calling assistant, or a round-robin team of role players.

The model client is AutoGen's ``OpenAIChatCompletionClient`` pointed at the SDK's gateway;
each granted tool is an AutoGen ``BaseTool`` whose schema is the tool's JSON Schema and whose
``run`` asks the host. With more than one role, the roles take turns in a
``RoundRobinGroupChat`` until one says TERMINATE or the message budget is spent.
"""

from __future__ import annotations

from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.messages import TextMessage, ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import CancellationToken
from autogen_core.models import ModelInfo
from autogen_core.tools import BaseTool, ToolSchema
from autogen_ext.models.openai import OpenAIChatCompletionClient
from pydantic import BaseModel, ConfigDict

from synthral_sdk import AgentFramework, AgentRequest, AgentResult, AgentStep, Context, NoConfig, ToolCall, ToolSpec
from synthral_sdk.agents import openai_gateway
from synthral_sdk.errors import BudgetExceeded

__all__ = ["AutoGenTeam"]

DONE = "TERMINATE"


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="allow")


class HostTool(BaseTool[_Arguments, str]):
    """A tool the host runs, with the host's JSON Schema."""

    def __init__(self, spec: ToolSpec, context: Context) -> None:
        super().__init__(_Arguments, str, spec.name, spec.description or spec.name)
        self._spec = spec
        self._context = context

    @property
    def schema(self) -> ToolSchema:
        """The host's schema, not one derived from a Python signature."""
        parameters: Any = self._spec.parameters or {"type": "object", "properties": {}}
        return ToolSchema(name=self._spec.name, description=self._spec.description, parameters=parameters)

    async def run(self, args: _Arguments, cancellation_token: CancellationToken) -> str:
        """Ask the host to run the tool."""
        call = ToolCall(id=f"autogen_{id(args)}", name=self._spec.name, arguments=args.model_dump())
        return (await self._context.host.call_tool(call)).as_text()


def _prompt(request: AgentRequest) -> str:
    text = request.task + (f"\n\nInputs: {request.inputs}" if request.inputs else "")
    if request.output_schema is not None:
        text += f"\n\nAnswer with JSON only, valid against this JSON Schema: {request.output_schema}"
    return text


def _result(result: TaskResult) -> AgentResult:
    steps: list[AgentStep] = []
    final = ""
    for message in result.messages:
        if isinstance(message, ToolCallRequestEvent):
            steps.extend(AgentStep(kind="tool_call", content=c.name, data={"arguments": c.arguments})
                         for c in message.content)  # fmt: skip
        elif isinstance(message, ToolCallExecutionEvent):
            steps.extend(AgentStep(kind="tool_result", content=r.content[:2000]) for r in message.content)
        elif isinstance(message, TextMessage) and message.source != "user":
            steps.append(AgentStep(kind="message", content=message.content[:2000], data={"role": message.source}))
            final = message.content
    return AgentResult(output=final.replace(DONE, "").strip(), steps=steps)


class AutoGenTeam(AgentFramework[NoConfig]):
    """An AutoGen assistant with the host's tools; with several roles, a round-robin team."""

    name = "team"
    title = "AutoGen AgentChat team"
    framework = "autogen-agentchat"
    styles = ("tool_calling", "multi_role")

    async def run_agent(self, request: AgentRequest, config: NoConfig, context: Context) -> AgentResult:
        """Run the assistant or the team; the host answers every model call and runs every tool."""
        info = ModelInfo(vision=True, function_calling=True, json_output=True, family="unknown",
                         structured_output=True)  # fmt: skip
        with openai_gateway(context) as endpoint:
            client = OpenAIChatCompletionClient(model=request.model or "default", base_url=endpoint.base_url,
                                                api_key=endpoint.api_key, model_info=info, max_retries=0)  # fmt: skip
            tools: list[Any] = [HostTool(spec, context) for spec in request.tools]
            try:
                if len(request.roles) > 1:
                    members = [
                        AssistantAgent(role.name, client, tools=tools, reflect_on_tool_use=True,
                                       max_tool_iterations=request.max_steps,
                                       system_message=f"You are {role.name}. {role.instructions} Your goal: {role.goal}"
                                       f" Say {DONE} when the team's task is done.")
                        for role in request.roles
                    ]  # fmt: skip
                    stop = TextMentionTermination(DONE) | MaxMessageTermination(2 * request.max_steps)
                    result = await RoundRobinGroupChat(members, termination_condition=stop).run(task=_prompt(request))
                else:
                    system = request.instructions or "You are a helpful assistant. Solve the task with your tools."
                    agent = AssistantAgent("assistant", client, tools=tools, reflect_on_tool_use=True,
                                           max_tool_iterations=request.max_steps, system_message=system)  # fmt: skip
                    result = await agent.run(task=_prompt(request))
            except BudgetExceeded:
                raise
            except Exception:
                endpoint.raise_failure()
                raise
            finally:
                await client.close()
        endpoint.raise_failure()  # AutoGen reports a failed model call as a message; the host's reason wins
        return _result(result)
