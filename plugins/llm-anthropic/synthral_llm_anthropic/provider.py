"""Claude through Anthropic's Messages API: tools, JSON by a forced tool, streaming, vision, retries."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field

from synthral_sdk import ChatMessage, CompletionRequest, CompletionResult, Context, LLMProvider, ToolCall, Usage
from synthral_sdk._ai import TOKEN_EVENT
from synthral_sdk.errors import ConfigurationError, InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.retry import RETRYABLE_STATUSES, parse_retry_after, retry_delay

__all__ = ["AnthropicConfig", "AnthropicMessages"]

_STOP = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length",
         "refusal": "content_filter", "pause_turn": "stop"}  # fmt: skip


class AnthropicConfig(BaseModel):
    """Where the API is and how patient to be with it."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(default="https://api.anthropic.com", description="The API's base URL.")
    api_key_secret: str = Field(default="api_key", description="The granted secret holding the API key.")
    anthropic_version: str = Field(default="2023-06-01", description="The anthropic-version header.")
    max_tokens: int = Field(default=4096, ge=1, description="max_tokens when the request sets none (it is required).")
    timeout: float = Field(default=120.0, gt=0, description="Seconds one HTTP attempt may take.")
    max_retries: int = Field(default=3, ge=0, le=10, description="Retries on 429, 529, 5xx and dropped connections.")
    max_retry_wait: float = Field(default=60.0, ge=0, description="Longest wait before a retry, Retry-After included.")


def _blocks(message: ChatMessage, context: Context) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    for part in message.parts:
        if part.type == "text" and part.text:
            blocks.append({"type": "text", "text": part.text})
        elif part.image is not None:
            data = base64.b64encode(context.blobs.get(part.image)).decode()
            blocks.append({"type": "image", "source": {"type": "base64", "media_type": part.image.media_type,
                                                       "data": data}})  # fmt: skip
    return blocks


def build_body(request: CompletionRequest, config: AnthropicConfig, context: Context) -> dict[str, Any]:
    """The Messages API request body."""
    system = [m.content for m in request.messages if m.role == "system" and m.content]
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
            if messages and messages[-1]["role"] == "user" and messages[-1].get("_results"):
                messages[-1]["content"].append(block)  # results of one turn's calls go in one user message
            else:
                messages.append({"role": "user", "content": [block], "_results": True})
            continue
        content = _blocks(message, context)
        if message.role == "assistant":
            content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                        for c in message.tool_calls]  # fmt: skip
        messages.append({"role": message.role, "content": content or [{"type": "text", "text": ""}]})
    for item in messages:
        item.pop("_results", None)
    body: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens or config.max_tokens,
                            "messages": messages}  # fmt: skip
    tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters or {"type": "object"}}
             for t in request.tools]  # fmt: skip
    fmt = request.response_format
    if fmt is not None and fmt.json_schema is not None:
        # Anthropic's documented way to get JSON by a schema: one forced tool whose input is the answer.
        tools.append({"name": fmt.name, "description": "Give the answer.", "input_schema": fmt.json_schema})
        body["tool_choice"] = {"type": "tool", "name": fmt.name}
    elif fmt is not None:
        system.append("Answer with one JSON object and nothing else.")
    if tools:
        body["tools"] = tools
    if "tool_choice" not in body and request.tool_choice:
        choice = request.tool_choice
        body["tool_choice"] = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}.get(
            choice, {"type": "tool", "name": choice}
        )
    if system:
        body["system"] = "\n\n".join(system)
    if request.temperature is not None:
        body["temperature"] = min(1.0, request.temperature)
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.stream:
        body["stream"] = True
    return body


def _garbage(url: str, what: str) -> NonRetryableError:
    return NonRetryableError(
        f"{url} answered something that is not a Messages API answer ({what}); check base_url",
        error_type="LLMResponseInvalid",
    )


def parse_message(data: object, url: str) -> tuple[list[dict[str, Any]], str, Usage, str]:
    """Content blocks, stop reason, usage and model of a ``message`` object."""
    if not isinstance(data, dict) or data.get("type") != "message" or not isinstance(data.get("content"), list):
        raise _garbage(url, "no message content")
    usage = data.get("usage") or {}
    return (
        data["content"],
        str(data.get("stop_reason") or "end_turn"),
        Usage(input_tokens=int(usage.get("input_tokens") or 0), output_tokens=int(usage.get("output_tokens") or 0)),
        str(data.get("model") or ""),
    )


async def read_stream(
    response: httpx.Response, url: str, context: Context
) -> tuple[list[dict[str, Any]], str, Usage, str]:
    """Rebuild the message from its events, emitting text as it comes."""
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, str] = {}
    stop = "end_turn"
    input_tokens = output_tokens = 0
    model = ""
    finished = False
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        try:
            event = orjson.loads(line[5:].strip())
        except orjson.JSONDecodeError:
            raise _garbage(url, f"a stream line that is not JSON: {line[:80]!r}") from None
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "message_start":
            message = event.get("message") or {}
            model = str(message.get("model") or "")
            input_tokens = int((message.get("usage") or {}).get("input_tokens") or 0)
        elif kind == "content_block_start":
            blocks[int(event["index"])] = dict(event["content_block"])
        elif kind == "content_block_delta":
            index, delta = int(event["index"]), event.get("delta") or {}
            if delta.get("type") == "text_delta":
                blocks.setdefault(index, {"type": "text", "text": ""})
                blocks[index]["text"] = blocks[index].get("text", "") + delta.get("text", "")
                context.emit(TOKEN_EVENT, {"text": delta.get("text", "")})
            elif delta.get("type") == "input_json_delta":
                partial[index] = partial.get(index, "") + delta.get("partial_json", "")
        elif kind == "message_delta":
            stop = str((event.get("delta") or {}).get("stop_reason") or stop)
            output_tokens = int((event.get("usage") or {}).get("output_tokens") or output_tokens)
        elif kind == "message_stop":
            finished = True
            break
        elif kind == "error":
            error = event.get("error") or {}
            raise RetryableError(f"{url} reported mid-stream: {error.get('type')}: {error.get('message')}")
    if not finished:
        raise RetryableError(
            f"the stream from {url} ended before message_stop; the call will be retried",
            error_type="LLMStreamTruncated",
        )
    for index, text in partial.items():
        try:
            blocks[index]["input"] = orjson.loads(text) if text else {}
        except orjson.JSONDecodeError:
            blocks[index]["input"] = {"_unparsed": text}
    ordered = [blocks[i] for i in sorted(blocks)]
    return ordered, stop, Usage(input_tokens=input_tokens, output_tokens=output_tokens), model


class AnthropicMessages(LLMProvider[AnthropicConfig]):
    """Claude models through Anthropic's Messages API."""

    name = "anthropic"
    title = "Anthropic Claude"
    secrets = ("api_key",)

    async def complete(self, request: CompletionRequest, config: AnthropicConfig, context: Context) -> CompletionResult:
        """Send the conversation, retrying 429/529/5xx as the server asks; stream tokens when asked."""
        if not config.base_url.startswith(("http://", "https://")):
            raise InputInvalid(f"base_url {config.base_url!r} must start with http:// or https://")
        key = context.secrets.get(config.api_key_secret)
        if key is None:
            raise ConfigurationError(
                f"the call was granted no secret {config.api_key_secret!r} with the Anthropic API key; add it to the "
                "node's secrets"
            )
        url = config.base_url.rstrip("/") + "/v1/messages"
        headers = {"x-api-key": key, "anthropic-version": config.anthropic_version, "content-type": "application/json"}
        body = orjson.dumps(build_body(request, config, context))
        started = time.perf_counter()
        attempt = 0
        async with context.http_client(timeout=config.timeout, follow_redirects=False) as client:
            while True:
                attempt += 1
                try:
                    blocks, stop, usage, model = await self._attempt(
                        client, url, headers=headers, body=body, request=request, context=context
                    )
                    break
                except _Retry as retry:
                    remaining = context.time_remaining()
                    wait = retry_delay(attempt, retry.after, cap=config.max_retry_wait)
                    if attempt > config.max_retries or (remaining is not None and wait >= remaining):
                        raise retry.error from None
                    context.log.warning("%s; retrying in %.1f s", retry.error.message, wait)
                    await asyncio.sleep(wait)
        fmt = request.response_format
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        calls = [ToolCall(id=str(b.get("id")), name=str(b.get("name")), arguments=b.get("input") or {})
                 for b in blocks if b.get("type") == "tool_use"]  # fmt: skip
        parsed: Any = None
        if fmt is not None and fmt.json_schema is not None:
            answer = next((c for c in calls if c.name == fmt.name), None)
            calls = [c for c in calls if c.name != fmt.name]
            if answer is not None:
                parsed, text, stop = dict(answer.arguments), orjson.dumps(answer.arguments).decode(), "end_turn"
        elif fmt is not None:
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                parsed = None
        return CompletionResult(
            model=model or request.model,
            message=ChatMessage(role="assistant", content=text, tool_calls=calls),
            finish_reason=_STOP.get(stop, "stop"),  # type: ignore[arg-type]
            usage=usage,
            parsed=parsed,
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempt,
        )

    async def _attempt(
        self, client: httpx.AsyncClient, url: str, *, headers: dict[str, str], body: bytes, request: CompletionRequest,
        context: Context,
    ) -> tuple[list[dict[str, Any]], str, Usage, str]:  # fmt: skip
        try:
            async with client.stream("POST", url, content=body, headers=headers) as response:
                if response.status_code != 200:
                    await response.aread()
                    _raise_for(response, url)
                if request.stream and response.headers.get("content-type", "").startswith("text/event-stream"):
                    return await read_stream(response, url, context)
                raw = await response.aread()
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _Retry(RetryableError(f"could not reach {url}: {type(exc).__name__}: {exc}"), None) from None
        except RetryableError as exc:
            raise _Retry(exc, None) from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _garbage(url, f"not JSON: {raw[:80]!r}") from None
        return parse_message(data, url)


def _raise_for(response: httpx.Response, url: str) -> None:
    status = response.status_code
    try:
        error = response.json().get("error") or {}
        message = f"{error.get('type')}: {error.get('message')}"
    except (ValueError, AttributeError):
        message = response.text[:300]
    if status in RETRYABLE_STATUSES:
        after = parse_retry_after(response.headers.get("retry-after"))
        raise _Retry(RetryableError(f"{url} answered {status}: {message}",
                                    details={"status": status, "retry_after": after}), after)  # fmt: skip
    if status in {401, 403}:
        raise ConfigurationError(f"{url} refused the API key ({status}: {message}); check the granted secret")
    if status == 404:
        raise ConfigurationError(f"{url} answered 404 ({message}); check base_url and the model name")
    raise NonRetryableError(f"{url} answered {status}: {message}", details={"status": status})


class _Retry(Exception):
    def __init__(self, error: RetryableError, after: float | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.after = after
