"""A tool-calling agent on Pydantic AI.

The model is Pydantic AI's ``OpenAIChatModel`` with an ``OpenAIProvider`` pointed at the
SDK's gateway (the host's provider, usage and budget); each granted tool is a
``Tool.from_schema`` whose coroutine asks the host to run it. Pydantic AI's own usage limit
(requests) is set from ``max_steps`` so the framework stops itself where the host would.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from openai import AsyncOpenAI
from pydantic_ai import Agent, Tool
from pydantic_ai.exceptions import UsageLimitExceeded
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.usage import UsageLimits

from synthral_sdk import AgentFramework, AgentRequest, AgentResult, AgentStep, Context, NoConfig, ToolCall, Usage
from synthral_sdk.agents import openai_gateway
from synthral_sdk.errors import BudgetExceeded

__all__ = ["TypedAgent"]


def _caller(context: Context, name: str, steps: list[AgentStep]) -> Callable[..., Awaitable[str]]:
    async def run(**arguments: Any) -> str:
        result = await context.host.call_tool(ToolCall(id=f"call_{uuid.uuid4().hex[:12]}", name=name,
                                                       arguments=arguments))  # fmt: skip
        steps.append(AgentStep(kind="tool_result", content=result.as_text()[:2000], data={"tool": name}))
        return result.as_text()

    return run


class TypedAgent(AgentFramework[NoConfig]):
    """A Pydantic AI agent: typed tool calling on the host's model and tools."""

    name = "typed"
    title = "Pydantic AI agent"
    framework = "pydantic-ai"
    styles = ("tool_calling",)

    async def run_agent(self, request: AgentRequest, config: NoConfig, context: Context) -> AgentResult:
        """Run the agent; the host answers every model request and runs every tool."""
        steps: list[AgentStep] = []
        prompt = request.task + (f"\n\nInputs: {request.inputs}" if request.inputs else "")
        if request.output_schema is not None:
            prompt += f"\n\nAnswer with JSON only, valid against this JSON Schema: {request.output_schema}"
        with openai_gateway(context) as endpoint:
            client = AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0)
            provider = OpenAIProvider(openai_client=client)
            model = OpenAIChatModel(request.model or "default", provider=provider)
            tools = [
                Tool.from_schema(_caller(context, spec.name, steps), name=spec.name, description=spec.description,
                                 json_schema=spec.parameters or {"type": "object", "properties": {}})
                for spec in request.tools
            ]  # fmt: skip
            agent = Agent(model, instructions=request.instructions or None, tools=tools)
            try:
                async with client:
                    result = await agent.run(prompt, usage_limits=UsageLimits(request_limit=request.max_steps))
            except UsageLimitExceeded as exc:
                raise BudgetExceeded(f"the agent hit its step limit ({exc}); raise max_steps") from None
            except Exception:
                endpoint.raise_failure()
                raise
        used = result.usage
        return AgentResult(
            output=str(result.output),
            steps=steps,
            usage=Usage(input_tokens=used.input_tokens or 0, output_tokens=used.output_tokens or 0),
        )
