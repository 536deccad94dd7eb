"""Helpers for agent framework plugins: reach the host from framework code (protocol 1.1).

Agent frameworks want two things the host owns: a model to talk to and tools to run.

* :func:`openai_gateway` serves an OpenAI-compatible chat-completions endpoint on
  127.0.0.1 inside the plugin's process for the length of one call. A framework's own
  OpenAI client is pointed at it; every request becomes ``context.host.complete`` (the
  host picks the provider, records usage, enforces the budget) and every answer comes
  back in OpenAI's format, streamed if asked.
* :class:`HostBridge` calls the host from the synchronous code frameworks run tools in.
  ``bridge.call_tool(name, arguments)`` asks the host to run a granted tool; the host,
  not the framework, decides whether it may.

Neither reaches the network: the gateway listens on loopback with a per-call token, and
everything it receives goes through the call's own protocol connection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, TypeVar, cast

import orjson

from synthral_sdk._ai import (
    AgentStep,
    ChatMessage,
    CompletionRequest,
    CompletionResult,
    ContentPart,
    ResponseFormat,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from synthral_sdk._json import JSONObject, JSONValue
from synthral_sdk.context import Context
from synthral_sdk.errors import Cancelled, InputInvalid, SynthralError

__all__ = ["GatewayEndpoint", "HostBridge", "openai_gateway", "parse_openai_request", "render_openai_response"]

T = TypeVar("T")
_POLL: Final = 0.05
_MAX_BODY: Final = 32 * 1024 * 1024


class HostBridge:
    """Blocking access to ``context.host`` from a framework's worker threads.

    Args:
        context: The call's context (its ``loop`` is set while the call runs).

    Calls from the event loop's own thread would deadlock and are refused; ``async``
    framework code awaits ``context.host`` directly instead.
    """

    def __init__(self, context: Context) -> None:
        self._context = context
        self._host = context.host
        loop = context.loop
        if loop is None:
            raise RuntimeError("HostBridge needs a running call; create it inside run_agent")
        self._loop = loop
        self.tool_calls = 0

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            coroutine.close()
            raise RuntimeError("HostBridge blocks; call it from a worker thread, or await context.host from async code")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        while True:
            try:
                return future.result(timeout=_POLL)
            except concurrent.futures.TimeoutError:
                if self._context.cancelled:
                    future.cancel()
                    raise Cancelled() from None

    def complete(self, request: CompletionRequest) -> CompletionResult:
        """Ask the host's LLM; see ``HostServices.complete``."""
        return self._run(self._host.complete(request))

    def call_tool(self, name: str, arguments: dict[str, JSONValue], call_id: str | None = None) -> ToolResult:
        """Ask the host to run a granted tool; a refusal comes back with ``ok`` false."""
        self.tool_calls += 1
        call = ToolCall(id=call_id or f"call_{uuid.uuid4().hex[:16]}", name=name, arguments=arguments)
        return self._run(self._host.call_tool(call))

    def record(self, kind: str, content: str, data: JSONObject | None = None) -> None:
        """Record a step (``thought``, ``plan``, ``check``, ``message``) in the execution history."""
        step = AgentStep.model_validate({"kind": kind, "content": content, "data": data or {}})
        self._run(self._host.record(step))


# -- OpenAI wire format ------------------------------------------------------------------


def _text_of(content: object, parts: list[ContentPart], context: Context) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise InputInvalid("message 'content' must be a string or a list of parts")
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            raise InputInvalid("each content part must be an object")
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            detail = image.get("detail", "auto") if isinstance(image, dict) else "auto"
            parts.append(_image_part(str(url), str(detail), context))
        else:
            raise InputInvalid(f"content part type {kind!r} is not supported; use 'text' or 'image_url'")
    return "\n".join(texts)


def _image_part(url: str, detail: str, context: Context) -> ContentPart:
    if not url.startswith("data:") or ";base64," not in url:
        raise InputInvalid(
            "images must be sent inline as data: URLs (base64); the gateway fetches nothing from the network"
        )
    header, _, payload = url.partition(";base64,")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise InputInvalid("an image data: URL is not valid base64") from None
    ref = context.blobs.put(data, media_type=header.removeprefix("data:") or "application/octet-stream")
    return ContentPart.model_validate(
        {"type": "image", "image": ref, "detail": detail if detail in {"low", "high"} else "auto"}
    )


def _arguments(raw: object) -> dict[str, JSONValue]:
    if isinstance(raw, dict):
        return cast(dict[str, JSONValue], raw)
    if not raw:
        return {}
    try:
        parsed = orjson.loads(str(raw))
    except orjson.JSONDecodeError:
        return {"_unparsed": str(raw)}
    return cast(dict[str, JSONValue], parsed) if isinstance(parsed, dict) else {"_value": parsed}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_openai_request(body: dict[str, Any], context: Context) -> CompletionRequest:
    """An OpenAI chat-completions request body as a :class:`CompletionRequest`.

    Images given as ``data:`` URLs are put in the blob store.

    Raises:
        InputInvalid: The body is not a chat-completions request the gateway can serve.
    """
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise InputInvalid("'messages' must be a non-empty list")
    names: dict[str, str] = {}
    messages: list[ChatMessage] = []
    for raw in raw_messages:
        if not isinstance(raw, dict):
            raise InputInvalid("each message must be an object")
        role = {"developer": "system", "function": "tool"}.get(str(raw.get("role")), str(raw.get("role")))
        parts: list[ContentPart] = []
        text = _text_of(raw.get("content"), parts, context)
        calls: list[ToolCall] = []
        for call in _list(raw.get("tool_calls")):
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                function = call["function"]
                tool_call = ToolCall(
                    id=str(call.get("id") or f"call_{len(names)}"),
                    name=str(function.get("name")),
                    arguments=_arguments(function.get("arguments")),
                )
                names[tool_call.id] = tool_call.name
                calls.append(tool_call)
        call_id = raw.get("tool_call_id")
        messages.append(
            ChatMessage.model_validate(
                {
                    "role": role,
                    "content": text,
                    "tool_calls": calls,
                    "tool_call_id": call_id,
                    "name": raw.get("name") or (names.get(str(call_id)) if call_id else None),
                    "parts": parts,
                }
            )
        )
    tools = []
    for tool in _list(body.get("tools")):
        spec = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(spec, dict):
            parameters = spec.get("parameters")
            tools.append(
                ToolSpec(
                    name=str(spec.get("name")),
                    description=str(spec.get("description") or ""),
                    parameters=parameters if isinstance(parameters, dict) else {},
                )
            )
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        named = choice.get("function")
        choice = named.get("name") if isinstance(named, dict) else None
    fmt = body.get("response_format")
    response_format = None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        wanted = fmt["json_schema"]
        response_format = ResponseFormat(
            type="json_schema",
            name=str(wanted.get("name") or "answer")[:64],
            json_schema=wanted.get("schema") or {},
            strict=bool(wanted.get("strict", True)),
        )
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        response_format = ResponseFormat(type="json_object")
    stop = body.get("stop")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return CompletionRequest.model_validate(
        {
            "model": str(body.get("model") or ""),
            "messages": messages,
            "tools": tools,
            "temperature": body.get("temperature"),
            "max_tokens": max_tokens if isinstance(max_tokens, int) else None,
            "stop": [stop] if isinstance(stop, str) else (stop or []),
            "tool_choice": choice if isinstance(choice, str) else None,
            "response_format": response_format,
            "stream": bool(body.get("stream")),
        }
    )


def _openai_calls(calls: list[ToolCall]) -> list[JSONObject]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
        }
        for call in calls
    ]


def _usage(result: CompletionResult) -> JSONObject:
    used = result.usage
    return {
        "prompt_tokens": used.input_tokens,
        "completion_tokens": used.output_tokens,
        "total_tokens": used.input_tokens + used.output_tokens,
    }


def render_openai_response(result: CompletionResult, completion_id: str, created: int) -> JSONObject:
    """A :class:`CompletionResult` as an OpenAI ``chat.completion`` object."""
    message: JSONObject = {"role": "assistant", "content": result.message.content or None}
    if result.message.tool_calls:
        message["tool_calls"] = cast(JSONValue, _openai_calls(result.message.tool_calls))
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": result.model,
        "choices": [{"index": 0, "message": message, "finish_reason": result.finish_reason, "logprobs": None}],
        "usage": _usage(result),
    }


def _chunks(result: CompletionResult, completion_id: str, created: int, with_usage: bool) -> Iterator[JSONObject]:
    def chunk(delta: JSONObject, finish: str | None = None) -> JSONObject:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": result.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    yield chunk({"role": "assistant", "content": ""})
    if result.message.content:
        yield chunk({"content": result.message.content})
    for index, call in enumerate(_openai_calls(result.message.tool_calls)):
        yield chunk({"tool_calls": [{"index": index, **call}]})
    yield chunk({}, result.finish_reason)
    if with_usage:
        yield {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": result.model,
            "choices": [],
            "usage": _usage(result),
        }


# -- the gateway ---------------------------------------------------------------------------


@dataclass
class GatewayEndpoint:
    """Where a framework's OpenAI client should point for this call.

    Attributes:
        base_url: ``http://127.0.0.1:PORT/v1``.
        api_key: The per-call bearer token the gateway accepts.
        requests: How many completions the gateway served.
        failure: The first error the host answered with (a spent budget, a provider that
            failed for good). A framework usually turns it into its own exception; raise
            this one instead so the host learns what really happened.
    """

    base_url: str
    api_key: str
    requests: int = 0
    failure: SynthralError | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def raise_failure(self) -> None:
        """Raise :attr:`failure` if the host refused a request."""
        if self.failure is not None:
            raise self.failure


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go as separate writes: no 40 ms delayed-ACK stall
    server: _GatewayServer

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _json(self, status: int, value: object) -> None:
        data = orjson.dumps(value)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._json(status, {"error": {"message": message, "type": kind, "code": kind, "param": None}})

    def _authorized(self) -> bool:
        offered = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(offered.encode(), self.server.endpoint.api_key.encode()):
            return True
        self._error(401, "wrong or missing API key for the SynthralOS gateway", "invalid_api_key")
        return False

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "synthral", "object": "model", "owned_by": "host"}]})
        else:
            self._error(404, f"no route GET {self.path}", "not_found")

    def do_POST(self) -> None:
        if not self._authorized():
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route POST {self.path}; the gateway serves /v1/chat/completions", "not_found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._error(413, f"request body over {_MAX_BODY} bytes", "request_too_large")
            return
        try:
            body = orjson.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise InputInvalid("the body must be a JSON object")
            request = parse_openai_request(body, self.server.context)
        except (orjson.JSONDecodeError, InputInvalid, ValueError) as exc:
            self._error(400, f"bad chat-completions request: {exc}", "invalid_request_error")
            return
        endpoint = self.server.endpoint
        try:
            result = self.server.bridge.complete(request)
        except SynthralError as exc:
            with endpoint._lock:  # noqa: SLF001 -- the gateway's own record
                if endpoint.failure is None:
                    endpoint.failure = exc
            status = 503 if exc.retryable else 400
            self._error(status, exc.message, exc.code)
            return
        except Cancelled:
            self._error(499, "the call was cancelled", "cancelled")
            return
        with endpoint._lock:  # noqa: SLF001 -- the gateway's own record
            endpoint.requests += 1
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not request.stream:
            self._json(200, render_openai_response(result, completion_id, created))
            return
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for item in _chunks(result, completion_id, created, with_usage):
            self.wfile.write(b"data: " + orjson.dumps(item) + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: Context, endpoint_token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.bridge = HostBridge(context)
        self.endpoint = GatewayEndpoint(
            base_url=f"http://127.0.0.1:{self.server_address[1]}/v1", api_key=endpoint_token
        )


@contextlib.contextmanager
def openai_gateway(context: Context) -> Iterator[GatewayEndpoint]:
    """Serve an OpenAI-compatible endpoint that answers through ``context.host`` while the block runs.

    Example::

        with openai_gateway(context) as endpoint:
            llm = ChatOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, model=request.model)
            ...
        endpoint.raise_failure()
    """
    server = _GatewayServer(context, secrets.token_urlsafe(24))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
