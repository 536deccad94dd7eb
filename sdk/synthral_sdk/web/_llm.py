"""An OpenAI-compatible chat endpoint asked for JSON: LLM extraction, selector healing, browser agents.

Used where a call is configured with an endpoint of its own (any server speaking the
OpenAI chat-completions protocol: a hosted API, vLLM, Ollama, llama.cpp); its API key is a
secret granted to the call.
"""

from __future__ import annotations

import json
from typing import Final

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk.context import Context
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = ["LLMEndpoint", "ask_json", "chat_json"]

_RETRY: Final = frozenset({408, 409, 429, 500, 502, 503, 504})


class LLMEndpoint(BaseModel):
    """Where to ask: an OpenAI-compatible server and a model; the key is the secret ``llm_api_key``."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="The API root, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1.")
    model: str = Field(min_length=1, description="The model name the server knows.")
    temperature: float = Field(default=0.0, ge=0, le=2)
    timeout_s: float = Field(default=60.0, gt=0, le=600)


async def chat_json(
    client: httpx.AsyncClient,
    endpoint: LLMEndpoint,
    messages: list[dict[str, str]],
    *,
    api_key: str | None = None,
) -> dict[str, JsonValue]:
    """Send ``messages``, ask for a JSON object, return it parsed.

    Raises:
        RetryableError: The server is busy or failing (429, 5xx, network).
        NonRetryableError: It refused the request, or answered something that is not a JSON object.
    """
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    body = {
        "model": endpoint.model,
        "messages": messages,
        "temperature": endpoint.temperature,
        "response_format": {"type": "json_object"},
    }
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    try:
        response = await client.post(url, json=body, headers=headers, timeout=endpoint.timeout_s)
    except httpx.TransportError as exc:
        raise RetryableError(f"the LLM endpoint {endpoint.base_url} did not answer: {exc}") from None
    if response.status_code in _RETRY:
        raise RetryableError(f"the LLM endpoint answered {response.status_code}; retry later")
    if response.status_code >= 400:
        raise NonRetryableError(
            f"the LLM endpoint refused the request ({response.status_code}): {response.text[:300]}; "
            "check base_url, model and the llm_api_key credential",
            details={"status": response.status_code},
        )
    try:
        content = response.json()["choices"][0]["message"]["content"]
        value = json.loads(content)
    except (ValueError, KeyError, IndexError, TypeError):
        raise NonRetryableError(
            "the LLM answered something that is not a JSON object; try another model or a clearer description",
            details={"answer": response.text[:500]},
        ) from None
    if not isinstance(value, dict):
        raise NonRetryableError("the LLM answered JSON that is not an object; describe the fields as an object")
    return value


async def ask_json(
    context: Context,
    messages: list[dict[str, str]],
    *,
    endpoint: LLMEndpoint | None,
    client: httpx.AsyncClient | None = None,
    api_key: str | None = None,
    model: str = "",
) -> dict[str, JsonValue]:
    """Ask for a JSON object: from ``endpoint`` when one is configured, else from the host's LLM.

    The host's LLM (``context.host.complete``) is the provider configured for the step,
    with its usage and cost recorded and its budget applied; an endpoint is for a call that
    names its own OpenAI-compatible server.

    Raises:
        ConfigurationError: Neither an endpoint nor a host with an LLM is available.
        RetryableError, NonRetryableError: As :func:`chat_json`, or as the host answered.
    """
    if endpoint is not None:
        if client is None:
            async with httpx.AsyncClient(trust_env=False) as own:
                return await chat_json(own, endpoint, messages, api_key=api_key)
        return await chat_json(client, endpoint, messages, api_key=api_key)
    if not context.has_host:
        raise ConfigurationError(
            "no LLM to ask: set the config's llm (an OpenAI-compatible endpoint, its key in the llm_api_key "
            "credential), or run the step in a host with an LLM provider configured"
        )
    from synthral_sdk._ai import ChatMessage, CompletionRequest, ResponseFormat  # noqa: PLC0415 -- only this path

    request = CompletionRequest(
        model=model or "default",
        messages=[ChatMessage.model_validate(m) for m in messages],
        response_format=ResponseFormat(type="json_object"),
        temperature=0.0,
    )
    result = await context.host.complete(request)
    value: object = result.parsed
    if value is None:
        try:
            value = json.loads(result.message.content)
        except ValueError:
            raise NonRetryableError(
                "the LLM answered something that is not a JSON object; try another model or a clearer description",
                details={"answer": result.message.content[:500]},
            ) from None
    if not isinstance(value, dict):
        raise NonRetryableError("the LLM answered JSON that is not an object; describe the fields as an object")
    return value
