"""A ReAct agent on LangGraph's prebuilt tool-calling graph.

The model is LangChain's ``ChatOpenAI`` pointed at the SDK's gateway, so every completion
is the host's (provider, usage, budget); each tool is a LangChain ``StructuredTool`` whose
function asks the host to run it. LangGraph drives the loop: model, tools, model, until the
model answers without tool calls or the recursion limit (from ``max_steps``) is reached.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import StructuredTool
from langchain_openai import ChatOpenAI
from langgraph.errors import GraphRecursionError
from langgraph.prebuilt import create_react_agent

from synthral_sdk import AgentFramework, AgentRequest, AgentResult, AgentStep, Context, NoConfig, ToolSpec, Usage
from synthral_sdk.agents import HostBridge, openai_gateway
from synthral_sdk.errors import BudgetExceeded

__all__ = ["ReactAgent", "task_text"]


def task_text(request: AgentRequest) -> str:
    """The task with its inputs and, when asked, the JSON answer instruction."""
    text = request.task
    if request.inputs:
        text += "\n\nInputs: " + str(request.inputs)
    if request.output_schema is not None:
        text += f"\n\nAnswer with JSON only, valid against this JSON Schema: {request.output_schema}"
    return text


def _tool(spec: ToolSpec, bridge: HostBridge) -> StructuredTool:
    def run(**arguments: Any) -> str:
        return bridge.call_tool(spec.name, arguments).as_text()

    schema = spec.parameters or {"type": "object", "properties": {}}
    return StructuredTool.from_function(func=run, name=spec.name, description=spec.description or spec.name,
                                        args_schema=dict(schema), infer_schema=False)  # fmt: skip


def _steps(messages: list[BaseMessage]) -> tuple[list[AgentStep], Usage]:
    steps: list[AgentStep] = []
    usage = Usage()
    for message in messages:
        if isinstance(message, AIMessage):
            meta = message.usage_metadata or {}
            usage = usage + Usage(input_tokens=meta.get("input_tokens", 0), output_tokens=meta.get("output_tokens", 0))
            for call in message.tool_calls:
                steps.append(AgentStep(kind="tool_call", content=call["name"], data={"arguments": call["args"]}))
            if message.content and not message.tool_calls:
                steps.append(AgentStep(kind="message", content=str(message.content)[:2000]))
        elif isinstance(message, ToolMessage):
            steps.append(AgentStep(kind="tool_result", content=str(message.content)[:2000]))
    return steps, usage


class ReactAgent(AgentFramework[NoConfig]):
    """A tool-calling ReAct agent: LangGraph's prebuilt agent graph on the host's model and tools."""

    name = "react"
    title = "LangGraph ReAct agent"
    framework = "langgraph"
    styles = ("tool_calling",)

    def run_agent(self, request: AgentRequest, config: NoConfig, context: Context) -> AgentResult:
        """Run the graph until the model answers; the host runs every tool call."""
        bridge = HostBridge(context)
        with openai_gateway(context) as endpoint:
            model = ChatOpenAI(model=request.model or "default", base_url=endpoint.base_url,
                               api_key=endpoint.api_key, max_retries=0)  # type: ignore[arg-type]  # fmt: skip
            graph = create_react_agent(model, [_tool(spec, bridge) for spec in request.tools],
                                       prompt=request.instructions or None)  # fmt: skip
            try:
                state = graph.invoke(
                    {"messages": [("user", task_text(request))]}, {"recursion_limit": 2 * request.max_steps + 1}
                )
            except GraphRecursionError:
                raise BudgetExceeded(
                    f"the agent was still calling tools after {request.max_steps} steps; raise max_steps",
                    details={"limit": "max_steps"},
                ) from None
            except Exception:
                endpoint.raise_failure()  # the host's refusal is the real reason
                raise
        messages: list[BaseMessage] = state["messages"]
        steps, usage = _steps(messages)
        final = messages[-1]
        return AgentResult(output=str(final.content), steps=steps, usage=usage)
