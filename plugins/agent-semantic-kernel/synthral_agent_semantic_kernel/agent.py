"""Semantic Kernel: the host's tools as one kernel plugin, chained by automatic function calling.

The chat service is Semantic Kernel's ``OpenAIChatCompletion`` over an ``AsyncOpenAI``
client pointed at the SDK's gateway. The granted tools become ``KernelFunction`` objects of
a ``host`` plugin, each with the tool's JSON Schema as its parameters; the kernel chains
calls to them (``FunctionChoiceBehavior.Auto``) until the model answers, at most
``max_steps`` rounds. Every function asks the host to run its tool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from openai import AsyncOpenAI
from semantic_kernel import Kernel
from semantic_kernel.connectors.ai.function_choice_behavior import FunctionChoiceBehavior
from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion, OpenAIChatPromptExecutionSettings
from semantic_kernel.contents import ChatHistory
from semantic_kernel.functions import KernelFunctionFromMethod, KernelParameterMetadata, KernelPlugin, kernel_function

from synthral_sdk import AgentFramework, AgentRequest, AgentResult, AgentStep, Context, NoConfig, ToolCall, ToolSpec
from synthral_sdk.agents import openai_gateway
from synthral_sdk.errors import BudgetExceeded

__all__ = ["KernelAgent"]

PLUGIN = "host"
_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "object": "dict", "array": "list"}


def _function(spec: ToolSpec, context: Context, steps: list[AgentStep]) -> KernelFunctionFromMethod:
    async def run(**arguments: Any) -> str:
        given = {k: v for k, v in arguments.items() if k not in {"kernel", "arguments"}}
        call = ToolCall(id=f"sk_{len(steps)}", name=spec.name, arguments=given)
        result = await context.host.call_tool(call)
        steps.append(AgentStep(kind="tool_result", content=result.as_text()[:2000], data={"tool": spec.name}))
        return result.as_text()

    method: Callable[..., Awaitable[str]] = kernel_function(name=spec.name, description=spec.description)(run)
    schema = spec.parameters or {}
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    parameters = [
        KernelParameterMetadata(
            name=name,
            description=str(prop.get("description", "")) if isinstance(prop, dict) else "",
            is_required=name in required,
            type_=_TYPES.get(str(prop.get("type")), "str") if isinstance(prop, dict) else "str",
            schema_data=prop if isinstance(prop, dict) else {},
        )
        for name, prop in (properties or {}).items()
    ]
    return KernelFunctionFromMethod(method=method, plugin_name=PLUGIN, parameters=parameters)


class KernelAgent(AgentFramework[NoConfig]):
    """A Semantic Kernel agent chaining the host's tools by automatic function calling."""

    name = "kernel"
    title = "Semantic Kernel agent"
    framework = "semantic-kernel"
    styles = ("tool_calling",)

    async def run_agent(self, request: AgentRequest, config: NoConfig, context: Context) -> AgentResult:
        """Chain function calls until the model answers; the host runs every tool."""
        steps: list[AgentStep] = []
        prompt = request.task + (f"\n\nInputs: {request.inputs}" if request.inputs else "")
        if request.output_schema is not None:
            prompt += f"\n\nAnswer with JSON only, valid against this JSON Schema: {request.output_schema}"
        with openai_gateway(context) as endpoint:
            client = AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0)
            kernel = Kernel()
            service = OpenAIChatCompletion(ai_model_id=request.model or "default", async_client=client)
            kernel.add_service(service)
            if request.tools:
                functions = [_function(spec, context, steps) for spec in request.tools]
                kernel.add_plugin(KernelPlugin(name=PLUGIN, functions=functions))
            history = ChatHistory(system_message=request.instructions or None)
            history.add_user_message(prompt)
            settings = OpenAIChatPromptExecutionSettings(
                function_choice_behavior=FunctionChoiceBehavior.Auto(maximum_auto_invoke_attempts=request.max_steps)
            )
            try:
                async with client:
                    answer = await service.get_chat_message_content(history, settings, kernel=kernel)
            except BudgetExceeded:
                raise
            except Exception:
                endpoint.raise_failure()
                raise
        endpoint.raise_failure()
        return AgentResult(output=str(answer or ""), steps=steps)
