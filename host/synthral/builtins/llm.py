"""LLM nodes built into the host: chat with a model, extract an object from text by JSON Schema.

They reach the model through ``context.host.complete``: the host resolves the provider named
in ``config.llm``, grants the node's secrets, records usage and cost, and streams tokens to
the execution view.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral.errors import ConfigurationError, NonRetryableError
from synthral.services.agent_models import LLMChoice
from synthral_sdk import (
    BlobRef,
    ChatMessage,
    CompletionRequest,
    CompletionResult,
    ContentPart,
    Context,
    Node,
    ResponseFormat,
    Usage,
    hookimpl,
)

__all__ = ["ChatNode", "ExtractNode", "synthral_nodes"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatConfig(_Strict):
    """Which model, and how it answers."""

    llm: LLMChoice
    system: str = Field(default="", description="The system prompt.")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    stream: bool = Field(default=True, description="Stream tokens to the execution view as they come.")
    json_schema: dict[str, JsonValue] | None = Field(
        default=None, description="Ask for JSON valid against this schema; the answer is parsed into 'data'."
    )


class ChatInput(_Strict):
    """What to say."""

    prompt: str = Field(default="", description="The user's message.")
    messages: list[ChatMessage] = Field(default_factory=list, description="Earlier turns, oldest first.")
    images: list[BlobRef] = Field(default_factory=list, description="Pictures for a vision model, from the blob store.")


class ChatOutput(BaseModel):
    """The model's answer."""

    text: str
    data: JsonValue = None
    model: str
    finish_reason: str
    usage: Usage


def _messages(system: str, inputs: ChatInput) -> list[ChatMessage]:
    messages = [ChatMessage(role="system", content=system)] if system else []
    messages.extend(inputs.messages)
    if inputs.prompt or inputs.images:
        parts = [ContentPart(type="image", image=ref) for ref in inputs.images]
        messages.append(ChatMessage(role="user", content=inputs.prompt, parts=parts))
    if not messages or all(m.role == "system" for m in messages):
        raise ConfigurationError("the chat has nothing to answer; give the node a 'prompt' or 'messages' input")
    return messages


def _parse(result: CompletionResult, schema: dict[str, Any]) -> Any:
    data = result.parsed
    if data is None:
        try:
            data = orjson.loads(result.message.content)
        except orjson.JSONDecodeError:
            raise NonRetryableError(
                f"the model did not answer with JSON: {result.message.content[:200]!r}; use a model that supports "
                "structured output, or say 'answer with JSON only' in the prompt",
                error_type="LLMOutputInvalid",
            ) from None
    jsonschema.validate(data, schema)
    return data


class ChatNode(Node[ChatInput, ChatOutput, ChatConfig]):
    """Send a prompt (with earlier turns and images) to an LLM and return its answer."""

    name = "chat"
    title = "LLM chat"
    category = "AI"
    icon = "message-square"

    async def run(self, inputs: ChatInput, config: ChatConfig, context: Context) -> ChatOutput:
        """Ask the model through the host."""
        request = CompletionRequest(
            model=config.llm.model,
            messages=_messages(config.system, inputs),
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            stream=config.stream,
            response_format=ResponseFormat(json_schema=config.json_schema) if config.json_schema else None,
        )
        result = await context.host.complete(request)
        data = None
        if config.json_schema is not None:
            try:
                data = _parse(result, config.json_schema)
            except jsonschema.ValidationError as exc:
                raise NonRetryableError(
                    f"the model's JSON does not match json_schema: {exc.message}", error_type="LLMOutputInvalid"
                ) from None
        return ChatOutput(
            text=result.message.content,
            data=data,
            model=result.model,
            finish_reason=result.finish_reason,
            usage=result.usage,
        )


class ExtractConfig(_Strict):
    """The model and the shape of the object to extract."""

    llm: LLMChoice
    json_schema: dict[str, JsonValue] = Field(description="JSON Schema of the object to extract.")
    instructions: str = Field(default="", description="What to look for, beyond the schema.")
    repairs: int = Field(default=1, ge=0, le=3, description="Times the model is asked to fix an invalid answer.")


class ExtractInput(_Strict):
    """The text (and pictures) to read."""

    text: str = Field(default="", description="The text to extract from.")
    images: list[BlobRef] = Field(default_factory=list)


class ExtractOutput(BaseModel):
    """The extracted object."""

    data: JsonValue
    model: str
    usage: Usage
    repairs: int = Field(description="How many times the answer had to be fixed.")


class ExtractNode(Node[ExtractInput, ExtractOutput, ExtractConfig]):
    """Turn text into an object valid against a JSON Schema (structured output, checked and repaired)."""

    name = "extract"
    title = "LLM extract"
    category = "AI"
    icon = "braces"

    async def run(self, inputs: ExtractInput, config: ExtractConfig, context: Context) -> ExtractOutput:
        """Ask for JSON by the schema; check it, and ask again to repair it."""
        try:
            jsonschema.Draft202012Validator.check_schema(config.json_schema)
        except jsonschema.SchemaError as exc:
            raise ConfigurationError(f"json_schema is not a valid JSON Schema: {exc.message}; fix the config") from None
        if not inputs.text and not inputs.images:
            raise ConfigurationError("there is nothing to extract from; give the node 'text' or 'images'")
        system = (
            "Extract the requested information from the user's content. Answer with one JSON object valid against "
            "the given schema and nothing else. Use null where the content does not say."
        )
        if config.instructions:
            system += "\n" + config.instructions
        parts = [ContentPart(type="image", image=ref) for ref in inputs.images]
        messages = [
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=inputs.text, parts=parts),
        ]
        usage = Usage()
        for attempt in range(config.repairs + 1):
            request = CompletionRequest(
                model=config.llm.model,
                messages=messages,
                response_format=ResponseFormat(name="extraction", json_schema=config.json_schema),
            )
            result = await context.host.complete(request)
            usage = usage + result.usage
            try:
                data = _parse(result, config.json_schema)
            except (jsonschema.ValidationError, NonRetryableError) as exc:
                problem = exc.message
                if attempt == config.repairs:
                    raise NonRetryableError(
                        f"the model's answer does not match json_schema after {attempt} repair(s): {problem}",
                        error_type="LLMOutputInvalid",
                    ) from None
                messages = [
                    *messages,
                    ChatMessage(role="assistant", content=result.message.content),
                    ChatMessage(role="user", content=f"That is not valid: {problem}. Answer again with valid JSON."),
                ]
                continue
            return ExtractOutput(data=data, model=result.model, usage=usage, repairs=attempt)
        raise AssertionError("unreachable")


@hookimpl
def synthral_nodes() -> list[Node[Any, Any, Any]]:
    """The LLM nodes."""
    return [ChatNode(), ExtractNode()]
