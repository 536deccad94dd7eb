"""Gemini through generateContent: function calling, JSON by schema, streaming (SSE), vision, retries."""

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

__all__ = ["GeminiConfig", "GeminiGenerate"]

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
           "PROHIBITED_CONTENT": "content_filter", "BLOCKLIST": "content_filter", "SPII": "content_filter"}  # fmt: skip
_UNSUPPORTED = ("additionalProperties", "$schema", "$defs", "title", "default")


class GeminiConfig(BaseModel):
    """Where the API is and how patient to be with it."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(default="https://generativelanguage.googleapis.com", description="The API's base URL.")
    api_version: str = Field(default="v1beta", description="The path's API version.")
    api_key_secret: str = Field(default="api_key", description="The granted secret holding the API key.")
    timeout: float = Field(default=120.0, gt=0, description="Seconds one HTTP attempt may take.")
    max_retries: int = Field(default=3, ge=0, le=10, description="Retries on 429, 5xx and dropped connections.")
    max_retry_wait: float = Field(default=60.0, ge=0, description="Longest wait before a retry, Retry-After included.")


def _schema(value: Any) -> Any:
    """A JSON Schema in the OpenAPI subset Gemini accepts (keywords it refuses dropped)."""
    if isinstance(value, dict):
        return {k: _schema(v) for k, v in value.items() if k not in _UNSUPPORTED}
    if isinstance(value, list):
        return [_schema(v) for v in value]
    return value


def _parts(message: ChatMessage, context: Context) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": message.content}] if message.content else []
    for part in message.parts:
        if part.type == "text" and part.text:
            parts.append({"text": part.text})
        elif part.image is not None:
            data = base64.b64encode(context.blobs.get(part.image)).decode()
            parts.append({"inlineData": {"mimeType": part.image.media_type, "data": data}})
    return parts


def build_body(request: CompletionRequest, context: Context) -> dict[str, Any]:
    """The generateContent request body."""
    system = [m.content for m in request.messages if m.role == "system" and m.content]
    contents: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            try:
                response: Any = orjson.loads(message.content)
            except orjson.JSONDecodeError:
                response = message.content
            wrapped = response if isinstance(response, dict) else {"result": response}
            part = {"functionResponse": {"name": message.name or "tool", "response": wrapped}}
            if contents and contents[-1]["role"] == "user" and contents[-1].get("_results"):
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part], "_results": True})
            continue
        parts = _parts(message, context)
        if message.role == "assistant":
            parts += [{"functionCall": {"name": c.name, "args": c.arguments}} for c in message.tool_calls]
        contents.append({"role": "model" if message.role == "assistant" else "user", "parts": parts or [{"text": ""}]})
    for item in contents:
        item.pop("_results", None)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [
            {"name": t.name, "description": t.description, "parameters": _schema(t.parameters or {"type": "object"})}
            for t in request.tools]}]  # fmt: skip
    choice = request.tool_choice
    if choice:
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice, "ANY")
        config: dict[str, Any] = {"mode": mode}
        if choice not in {"auto", "none", "required"}:
            config["allowedFunctionNames"] = [choice]
        body["toolConfig"] = {"functionCallingConfig": config}
    generation: dict[str, Any] = {}
    if request.temperature is not None:
        generation["temperature"] = request.temperature
    if request.max_tokens is not None:
        generation["maxOutputTokens"] = request.max_tokens
    if request.stop:
        generation["stopSequences"] = request.stop
    fmt = request.response_format
    if fmt is not None:
        generation["responseMimeType"] = "application/json"
        if fmt.json_schema is not None:
            generation["responseSchema"] = _schema(fmt.json_schema)
    if generation:
        body["generationConfig"] = generation
    return body


def _garbage(url: str, what: str) -> NonRetryableError:
    return NonRetryableError(
        f"{url} answered something that is not a generateContent answer ({what}); check base_url and api_version",
        error_type="LLMResponseInvalid",
    )


class _Answer:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[ToolCall] = []
        self.finish: str | None = None
        self.usage = Usage()
        self.model = ""

    def add(self, data: object, url: str, context: Context | None) -> None:
        if not isinstance(data, dict):
            raise _garbage(url, "not an object")
        if "error" in data:
            error = data["error"] if isinstance(data["error"], dict) else {}
            raise RetryableError(f"{url} reported: {error.get('status')}: {error.get('message')}")
        candidates = data.get("candidates")
        if not isinstance(candidates, list):
            if "usageMetadata" in data:
                return
            raise _garbage(url, "no 'candidates'")
        self.model = str(data.get("modelVersion") or self.model)
        meta = data.get("usageMetadata")
        if isinstance(meta, dict):
            self.usage = Usage(input_tokens=int(meta.get("promptTokenCount") or 0),
                               output_tokens=int(meta.get("candidatesTokenCount") or 0))  # fmt: skip
        for candidate in candidates[:1]:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if "text" in part:
                    self.text.append(str(part["text"]))
                    if context is not None:
                        context.emit(TOKEN_EVENT, {"text": str(part["text"])})
                elif "functionCall" in part:
                    call = part["functionCall"]
                    self.calls.append(ToolCall(id=f"call_{len(self.calls) + 1}", name=str(call.get("name")),
                                               arguments=call.get("args") or {}))  # fmt: skip
            if candidate.get("finishReason"):
                self.finish = str(candidate["finishReason"])


class GeminiGenerate(LLMProvider[GeminiConfig]):
    """Gemini models through Google's generateContent API."""

    name = "gemini"
    title = "Google Gemini"
    secrets = ("api_key",)

    async def complete(self, request: CompletionRequest, config: GeminiConfig, context: Context) -> CompletionResult:
        """Send the conversation, retrying 429/5xx as the server asks; stream tokens when asked."""
        if not config.base_url.startswith(("http://", "https://")):
            raise InputInvalid(f"base_url {config.base_url!r} must start with http:// or https://")
        key = context.secrets.get(config.api_key_secret)
        if key is None:
            raise ConfigurationError(
                f"the call was granted no secret {config.api_key_secret!r} with the Gemini API key; add it to the "
                "node's secrets"
            )
        method = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        url = f"{config.base_url.rstrip('/')}/{config.api_version}/models/{request.model}:{method}"
        headers = {"x-goog-api-key": key, "content-type": "application/json"}
        body = orjson.dumps(build_body(request, context))
        started = time.perf_counter()
        attempt = 0
        async with context.http_client(timeout=config.timeout, follow_redirects=False) as client:
            while True:
                attempt += 1
                try:
                    answer = await self._attempt(
                        client, url, headers=headers, body=body, stream=request.stream, context=context
                    )
                    break
                except _Retry as retry:
                    remaining = context.time_remaining()
                    wait = retry_delay(attempt, retry.after, cap=config.max_retry_wait)
                    if attempt > config.max_retries or (remaining is not None and wait >= remaining):
                        raise retry.error from None
                    context.log.warning("%s; retrying in %.1f s", retry.error.message, wait)
                    await asyncio.sleep(wait)
        text = "".join(answer.text)
        parsed: Any = None
        if request.response_format is not None:
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                parsed = None
        finish = "tool_calls" if answer.calls else _FINISH.get(answer.finish or "STOP", "stop")
        return CompletionResult(
            model=answer.model or request.model,
            message=ChatMessage(role="assistant", content=text, tool_calls=answer.calls),
            finish_reason=finish,  # type: ignore[arg-type]
            usage=answer.usage,
            parsed=parsed,
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempt,
        )

    async def _attempt(
        self, client: httpx.AsyncClient, url: str, *, headers: dict[str, str], body: bytes, stream: bool,
        context: Context,
    ) -> _Answer:  # fmt: skip
        answer = _Answer()
        try:
            async with client.stream("POST", url, content=body, headers=headers) as response:
                if response.status_code != 200:
                    await response.aread()
                    _raise_for(response, url)
                if not stream:
                    raw = await response.aread()
                    try:
                        answer.add(orjson.loads(raw), url, None)
                    except orjson.JSONDecodeError:
                        raise _garbage(url, f"not JSON: {raw[:80]!r}") from None
                    return answer
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        try:
                            answer.add(orjson.loads(line[5:].strip()), url, context)
                        except orjson.JSONDecodeError:
                            raise _garbage(url, f"a stream line that is not JSON: {line[:80]!r}") from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _Retry(RetryableError(f"could not reach {url}: {type(exc).__name__}: {exc}"), None) from None
        except RetryableError as exc:
            raise _Retry(exc, None) from None
        if answer.finish is None:
            raise _Retry(RetryableError(f"the stream from {url} ended before a finishReason; the call will be retried",
                                        error_type="LLMStreamTruncated"), None)  # fmt: skip
        return answer


def _raise_for(response: httpx.Response, url: str) -> None:
    status = response.status_code
    try:
        error = response.json().get("error") or {}
        message = f"{error.get('status')}: {error.get('message')}"
    except (ValueError, AttributeError):
        message = response.text[:300]
    if status in RETRYABLE_STATUSES:
        after = parse_retry_after(response.headers.get("retry-after"))
        raise _Retry(RetryableError(f"{url} answered {status}: {message}",
                                    details={"status": status, "retry_after": after}), after)  # fmt: skip
    if status in {401, 403}:
        raise ConfigurationError(f"{url} refused the API key ({status}: {message}); check the granted secret")
    if status == 404:
        raise ConfigurationError(f"{url} answered 404 ({message}); check the model name and api_version")
    raise NonRetryableError(f"{url} answered {status}: {message}", details={"status": status})


class _Retry(Exception):
    def __init__(self, error: RetryableError, after: float | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.after = after
