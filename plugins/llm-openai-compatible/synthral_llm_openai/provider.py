"""Chat completions over OpenAI's wire protocol: tools, JSON-schema output, streaming, vision, retries."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk import (
    ChatMessage,
    CompletionRequest,
    CompletionResult,
    Context,
    LLMProvider,
    ToolCall,
    Usage,
)
from synthral_sdk._ai import TOKEN_EVENT
from synthral_sdk.errors import ConfigurationError, InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.retry import RETRYABLE_STATUSES, parse_retry_after, retry_delay

__all__ = ["OpenAICompatible", "OpenAIConfig"]

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
           "content_filter": "content_filter"}  # fmt: skip


class OpenAIConfig(BaseModel):
    """Where the API is and how patient to be with it."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        default="https://api.openai.com/v1",
        description="The API's base URL: OpenAI, an Azure resource, or a local server (http://127.0.0.1:11434/v1).",
    )
    api_key_secret: str | None = Field(
        default="api_key", description="The granted secret holding the API key; null for servers that need none."
    )
    flavor: Literal["openai", "azure"] = Field(
        default="openai", description="'azure': deployments in the path, api-version query, api-key header."
    )
    azure_api_version: str = Field(default="2024-10-21", description="For Azure: the api-version query parameter.")
    timeout: float = Field(default=120.0, gt=0, description="Seconds one HTTP attempt may take.")
    max_retries: int = Field(default=3, ge=0, le=10, description="Retries on 429, 5xx and dropped connections.")
    max_retry_wait: float = Field(default=60.0, ge=0, description="Longest wait before a retry, Retry-After included.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers (no secrets: use the secret).")


def _content(message: ChatMessage, context: Context) -> Any:
    if not message.parts:
        return message.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    for part in message.parts:
        if part.type == "text":
            parts.append({"type": "text", "text": part.text})
        elif part.image is not None:
            data = base64.b64encode(context.blobs.get(part.image)).decode()
            url = f"data:{part.image.media_type};base64,{data}"
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": part.detail}})
    return parts


def _messages(request: CompletionRequest, context: Context) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in request.messages:
        item: dict[str, Any] = {"role": message.role, "content": _content(message, context)}
        if message.tool_calls:
            item["content"] = message.content or None
            item["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()}}
                for c in message.tool_calls
            ]  # fmt: skip
        if message.role == "tool":
            item["tool_call_id"] = message.tool_call_id
        out.append(item)
    return out


def build_body(request: CompletionRequest, context: Context) -> dict[str, Any]:
    """The chat-completions request body."""
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request, context)}
    if request.tools:
        body["tools"] = [{"type": "function", "function": t.model_dump(mode="json")} for t in request.tools]
    if request.tool_choice in {"auto", "none", "required"}:
        body["tool_choice"] = request.tool_choice
    elif request.tool_choice:
        body["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice}}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.stop:
        body["stop"] = request.stop
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": fmt.name, "schema": fmt.json_schema,
                                                                           "strict": fmt.strict}}  # fmt: skip
    elif fmt is not None:
        body["response_format"] = {"type": "json_object"}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _garbage(url: str, what: str) -> NonRetryableError:
    return NonRetryableError(
        f"{url} answered something that is not a chat completion ({what}); check base_url points at an "
        "OpenAI-compatible API (it usually ends in /v1)",
        error_type="LLMResponseInvalid",
    )


def _arguments(raw: object, url: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = orjson.loads(str(raw or "{}"))
    except orjson.JSONDecodeError:
        return {"_unparsed": str(raw)}  # the model wrote broken JSON: the caller decides what to do
    if not isinstance(parsed, dict):
        raise _garbage(url, "tool arguments that are not an object")
    return parsed


def parse_completion(data: object, url: str) -> tuple[ChatMessage, str, Usage, str]:
    """Message, finish reason, usage and model from a ``chat.completion`` object."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise _garbage(url, "no 'choices'")
    choice = data["choices"][0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise _garbage(url, "a choice without a message")
    calls = [
        ToolCall(id=str(c.get("id") or f"call_{i}"), name=str(c["function"]["name"]),
                 arguments=_arguments(c["function"].get("arguments"), url))
        for i, c in enumerate(message.get("tool_calls") or [])
        if isinstance(c, dict) and isinstance(c.get("function"), dict)
    ]  # fmt: skip
    usage = data.get("usage") or {}
    return (
        ChatMessage(role="assistant", content=str(message.get("content") or ""), tool_calls=calls),
        _FINISH.get(str(choice.get("finish_reason")), "stop"),
        Usage(
            input_tokens=int(usage.get("prompt_tokens") or 0), output_tokens=int(usage.get("completion_tokens") or 0)
        ),
        str(data.get("model") or ""),
    )


async def read_stream(response: httpx.Response, url: str, context: Context) -> tuple[ChatMessage, str, Usage, str]:
    """Accumulate a streamed answer, emitting each piece of text as it comes."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    usage = Usage()
    model = ""
    done = False
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise _garbage(url, f"a stream line that is not JSON: {payload[:80]!r}") from None
        if not isinstance(chunk, dict):
            raise _garbage(url, "a stream chunk that is not an object")
        model = str(chunk.get("model") or model)
        if isinstance(chunk.get("usage"), dict):
            used = chunk["usage"]
            usage = Usage(input_tokens=int(used.get("prompt_tokens") or 0),
                          output_tokens=int(used.get("completion_tokens") or 0))  # fmt: skip
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            piece = delta.get("content")
            if piece:
                text.append(piece)
                context.emit(TOKEN_EVENT, {"text": piece})
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(int(call.get("index", 0)), {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["name"] = function.get("name") or slot["name"]
                slot["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                finish = str(choice["finish_reason"])
    if finish is None and not done:
        raise RetryableError(
            f"the stream from {url} ended before the answer was complete ({len(''.join(text))} characters in); "
            "the call will be retried",
            error_type="LLMStreamTruncated",
        )
    tool_calls = [
        ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=_arguments(slot["arguments"], url))
        for index, slot in sorted(calls.items())
    ]
    message = ChatMessage(role="assistant", content="".join(text), tool_calls=tool_calls)
    return message, _FINISH.get(finish or "stop", "stop"), usage, model


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500]
    return str(body)[:300]


class OpenAICompatible(LLMProvider[OpenAIConfig]):
    """Chat completions on any API speaking OpenAI's protocol: OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio."""

    name = "openai"
    title = "OpenAI-compatible LLM"
    secrets = ("api_key",)

    def _target(self, config: OpenAIConfig, request: CompletionRequest, context: Context) -> tuple[str, dict[str, str]]:
        headers = {"Content-Type": "application/json", **config.headers}
        key = context.secrets.get(config.api_key_secret) if config.api_key_secret else None
        if config.api_key_secret and key is None and "api.openai.com" in config.base_url:
            raise ConfigurationError(
                f"the call was granted no secret {config.api_key_secret!r} with the API key; add it to the node's "
                "secrets, or set api_key_secret to null for a server that needs no key"
            )
        base = config.base_url.rstrip("/")
        if config.flavor == "azure":
            if key:
                headers["api-key"] = key
            return (
                f"{base}/openai/deployments/{request.model}/chat/completions?api-version={config.azure_api_version}",
                headers,
            )
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return f"{base}/chat/completions", headers

    async def complete(self, request: CompletionRequest, config: OpenAIConfig, context: Context) -> CompletionResult:
        """Send the chat, retrying 429/5xx as the server asks; stream tokens when asked."""
        if not config.base_url.startswith(("http://", "https://")):
            raise InputInvalid(f"base_url {config.base_url!r} must start with http:// or https://")
        url, headers = self._target(config, request, context)
        body = orjson.dumps(build_body(request, context))
        started = time.perf_counter()
        attempt = 0
        async with context.http_client(timeout=config.timeout, follow_redirects=False) as client:
            while True:
                attempt += 1
                try:
                    result = await self._attempt(
                        client, url, headers=headers, body=body, request=request, context=context
                    )
                except _Retry as retry:
                    remaining = context.time_remaining()
                    wait = retry_delay(attempt, retry.after, cap=config.max_retry_wait)
                    if attempt > config.max_retries or (remaining is not None and wait >= remaining):
                        raise retry.error from None
                    context.log.warning("%s; retrying in %.1f s (attempt %d)", retry.error.message, wait, attempt + 1)
                    await asyncio.sleep(wait)
                    continue
                message, finish, usage, model = result
                parsed = None
                if request.response_format is not None:
                    try:
                        parsed = orjson.loads(message.content)
                    except orjson.JSONDecodeError:
                        parsed = None
                return CompletionResult(
                    model=model or request.model,
                    message=message,
                    finish_reason=finish,  # type: ignore[arg-type]
                    usage=usage,
                    parsed=parsed,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    attempts=attempt,
                )

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes,
        request: CompletionRequest,
        context: Context,
    ) -> tuple[ChatMessage, str, Usage, str]:
        try:
            async with client.stream("POST", url, content=body, headers=headers) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._raise_for(response, url)
                if request.stream and response.headers.get("content-type", "").startswith("text/event-stream"):
                    return await read_stream(response, url, context)
                raw = await response.aread()
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _Retry(RetryableError(f"could not reach {url}: {type(exc).__name__}: {exc}"), None) from None
        except RetryableError as exc:
            if exc.error_type == "LLMStreamTruncated":
                raise _Retry(exc, None) from None
            raise
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _garbage(url, f"not JSON: {raw[:80]!r}") from None
        return parse_completion(data, url)

    def _raise_for(self, response: httpx.Response, url: str) -> None:
        status = response.status_code
        message = _error_message(response)
        if status in RETRYABLE_STATUSES:
            after = parse_retry_after(response.headers.get("retry-after"))
            error = RetryableError(
                f"{url} answered {status}: {message}", details={"status": status, "retry_after": after}
            )
            raise _Retry(error, after)
        if status in {401, 403}:
            raise ConfigurationError(
                f"{url} refused the API key ({status}: {message}); check the secret named by api_key_secret",
                details={"status": status},
            )
        if status == 404:
            raise ConfigurationError(
                f"{url} answered 404 ({message}); check base_url and the model name", details={"status": status}
            )
        raise NonRetryableError(f"{url} answered {status}: {message}", details={"status": status})


class _Retry(Exception):
    def __init__(self, error: RetryableError, after: float | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.after = after
