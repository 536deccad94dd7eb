"""Local stand-ins for LLM APIs, scripted per test, and a scripted host for agent plugins.

No model weights are needed to test code that talks to a model: these servers speak the
documented wire protocols on 127.0.0.1 and answer what the test scripted.

* :class:`OpenAIStandIn` — OpenAI chat completions (``POST /v1/chat/completions``): tool
  calls, JSON output, streaming (SSE, with the usage chunk when asked), usage, error
  bodies and ``Retry-After``. Ollama, vLLM, LM Studio and llama.cpp speak the same.
* :class:`AnthropicStandIn` — Anthropic's Messages API (``POST /v1/messages``).
* :class:`GeminiStandIn` — Gemini's ``generateContent`` and ``streamGenerateContent``.

Each answers the :class:`Reply` objects given to :meth:`StandIn.script` in order (or what a
``responder`` function returns) and records every request it got::

    with OpenAIStandIn() as llm:
        llm.script(Reply.tool("lookup", city="Paris"), Reply("It is sunny."))
        ...  # point the code under test at llm.url
        assert llm.requests[1].body["messages"][-1]["role"] == "tool"

A request beyond the script gets HTTP 500 saying so, which fails the test with a clear
message. :class:`ScriptedHost` plays the host for an agent plugin's tests: completions go to
an :class:`OpenAIStandIn`, tools are Python functions.

Only the standard library is used, so every plugin's venv can run these.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self, cast
from urllib.parse import urlsplit

from synthral_sdk._ai import AgentStep, ChatMessage, CompletionRequest, CompletionResult, ToolCall, ToolResult, Usage
from synthral_sdk._json import JSONObject, JSONValue
from synthral_sdk.errors import NonRetryableError, RetryableError

__all__ = [
    "AnthropicStandIn",
    "GeminiStandIn",
    "OpenAIStandIn",
    "RecordedRequest",
    "Reply",
    "ScriptedHost",
    "StandIn",
]


@dataclass
class Reply:
    """One scripted answer, rendered in each stand-in's own protocol.

    Attributes:
        text: The assistant's text.
        tool_calls: ``(name, arguments)`` pairs the model asks for.
        finish: The finish reason; by default ``tool_calls`` when there are calls, else ``stop``.
        input_tokens: Reported prompt tokens.
        output_tokens: Reported completion tokens.
        status: HTTP status; not 200 sends the protocol's error body with ``error``.
        error: The error message for a non-200 status.
        retry_after: Seconds for a ``Retry-After`` header.
        body: Raw bytes to send instead of a well-formed answer (garbage tests).
        truncate: When streaming, stop after the first piece of text, without the end.
        delay: Seconds to wait before answering.
        pieces: When streaming, the text is sent in this many pieces.
    """

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finish: str | None = None
    input_tokens: int = 12
    output_tokens: int = 7
    status: int = 200
    error: str = ""
    retry_after: float | None = None
    body: bytes | None = None
    truncate: bool = False
    delay: float = 0.0
    pieces: int = 3

    @classmethod
    def tool(cls, name: str, /, **arguments: Any) -> Reply:
        """A reply asking for one tool call."""
        return cls(tool_calls=[(name, arguments)])

    @classmethod
    def fail(cls, status: int, error: str = "", retry_after: float | None = None) -> Reply:
        """An error answer (429 with ``retry_after``, 500, 400...)."""
        return cls(status=status, error=error or f"stand-in error {status}", retry_after=retry_after)

    @classmethod
    def json(cls, value: Any) -> Reply:
        """A reply whose text is ``value`` as JSON (structured output)."""
        return cls(text=json.dumps(value))

    def finish_reason(self) -> str:
        """The OpenAI-style finish reason."""
        return self.finish or ("tool_calls" if self.tool_calls else "stop")

    def split(self) -> list[str]:
        """The text in streaming pieces."""
        if not self.text:
            return []
        size = max(1, -(-len(self.text) // max(1, self.pieces)))
        return [self.text[i : i + size] for i in range(0, len(self.text), size)]


@dataclass(frozen=True)
class RecordedRequest:
    """A request a stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go as separate writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        request = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        standin = self.server.standin
        with standin.lock:
            standin.requests.append(request)
        try:
            reply = standin.next_reply(request)
        except LookupError as exc:
            self.send(500, json.dumps({"error": {"message": str(exc), "type": "script_exhausted"}}).encode())
            return
        if reply.delay:
            time.sleep(reply.delay)
        if reply.body is not None:
            self.send(reply.status, reply.body, "application/json")
            return
        if reply.status != 200:
            headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
            self.send(reply.status, json.dumps(standin.error_body(reply)).encode(), "application/json", headers)
            return
        standin.answer(self, request, reply)

    do_GET = do_POST = _serve  # noqa: N815 -- http.server's names

    def send(
        self, status: int, data: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        """Send a whole answer."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self) -> None:
        """Start a server-sent event stream (closed with the connection)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def event(self, data: Any, name: str | None = None) -> None:
        """Send one server-sent event."""
        prefix = f"event: {name}\n".encode() if name else b""
        self.wfile.write(prefix + b"data: " + json.dumps(data).encode() + b"\n\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: StandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin

    def handle_error(self, request: Any, client_address: Any) -> None:
        del request, client_address  # a client that hung up mid-stream (timeout tests) is not a failure


class StandIn:
    """Base of the stand-ins: a threaded HTTP server on 127.0.0.1 answering a script.

    Args:
        responder: Called with each request when the script is empty; returns a Reply.
    """

    base_path: ClassVar[str] = ""

    def __init__(self, responder: Callable[[RecordedRequest], Reply] | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.responder = responder
        self._script: deque[Reply] = deque()
        self._calls = 0
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL a client is configured with."""
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    def script(self, *replies: Reply) -> Self:
        """Queue answers, in order."""
        with self.lock:
            self._script.extend(replies)
        return self

    def next_reply(self, request: RecordedRequest) -> Reply:
        """The next scripted answer (or the responder's)."""
        with self.lock:
            if self._script:
                return self._script.popleft()
        if self.responder is not None:
            return self.responder(request)
        raise LookupError(
            f"the {type(self).__name__}'s script is exhausted: request {len(self.requests)} ({request.path}) was not "
            "expected; script more replies or set a responder"
        )

    def call_id(self, prefix: str = "call_") -> str:
        """A new tool call id, sequential per stand-in."""
        with self.lock:
            self._calls += 1
            return f"{prefix}{self._calls}"

    @property
    def remaining(self) -> int:
        """Scripted replies not yet used."""
        with self.lock:
            return len(self._script)

    def error_body(self, reply: Reply) -> JSONObject:
        """The protocol's error body."""
        raise NotImplementedError

    def answer(self, handler: _Handler, request: RecordedRequest, reply: Reply) -> None:
        """Send a successful answer in the protocol."""
        raise NotImplementedError

    def start(self) -> Self:
        """Serve until :meth:`stop`."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- OpenAI chat completions ---------------------------------------------------------------


class OpenAIStandIn(StandIn):
    """OpenAI's chat-completions API at ``url`` (``http://127.0.0.1:PORT/v1``)."""

    base_path = "/v1"

    def error_body(self, reply: Reply) -> JSONObject:
        """OpenAI's error object."""
        kind = {429: "rate_limit_exceeded", 401: "invalid_api_key", 400: "invalid_request_error"}.get(
            reply.status, "server_error"
        )
        return {"error": {"message": reply.error, "type": kind, "param": None, "code": kind}}

    def _openai_calls(self, reply: Reply) -> list[JSONObject]:
        return [
            {"id": self.call_id(), "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for name, args in reply.tool_calls
        ]

    def answer(self, handler: _Handler, request: RecordedRequest, reply: Reply) -> None:
        """A ``chat.completion`` object, or its chunks when ``stream`` is set."""
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model") or "stand-in")
        created = int(time.time())
        ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        calls = self._openai_calls(reply)
        if not body.get("stream"):
            message: JSONObject = {"role": "assistant", "content": reply.text or None}
            if calls:
                message["tool_calls"] = cast(JSONValue, calls)
            answer = {"id": ident, "object": "chat.completion", "created": created, "model": model, "usage": usage,
                      "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason(),
                                   "logprobs": None}]}  # fmt: skip
            handler.send(200, json.dumps(answer).encode())
            return

        def chunk(delta: JSONObject, finish: str | None = None) -> JSONObject:
            return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}  # fmt: skip

        handler.start_stream()
        handler.event(chunk({"role": "assistant", "content": ""}))
        for piece in reply.split():
            handler.event(chunk({"content": piece}))
            if reply.truncate:
                return
        for index, call in enumerate(calls):
            function = cast(JSONObject, call["function"])
            arguments = str(function["arguments"])
            half = len(arguments) // 2
            head = {"index": index, "id": call["id"], "type": "function",
                    "function": {"name": function["name"], "arguments": arguments[:half]}}  # fmt: skip
            handler.event(chunk({"tool_calls": [head]}))
            handler.event(chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]}))
        handler.event(chunk({}, reply.finish_reason()))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            handler.event({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                           "choices": [], "usage": usage})  # fmt: skip
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()


# -- Anthropic Messages ------------------------------------------------------------------------


class AnthropicStandIn(StandIn):
    """Anthropic's Messages API at ``url`` (``http://127.0.0.1:PORT``; requests go to ``/v1/messages``)."""

    def error_body(self, reply: Reply) -> JSONObject:
        """Anthropic's error object."""
        kind = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error",
                400: "invalid_request_error"}.get(reply.status, "api_error")  # fmt: skip
        return {"type": "error", "error": {"type": kind, "message": reply.error}}

    def answer(self, handler: _Handler, request: RecordedRequest, reply: Reply) -> None:
        """A ``message`` object, or its events when ``stream`` is set."""
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model") or "stand-in")
        stop = {"tool_calls": "tool_use", "stop": "end_turn", "length": "max_tokens"}.get(
            reply.finish_reason(), reply.finish_reason()
        )
        uses = [
            {"type": "tool_use", "id": self.call_id("toolu_"), "name": name, "input": args}
            for name, args in reply.tool_calls
        ]
        message: JSONObject = {"id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant",
                               "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
                               "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1}}  # fmt: skip
        if not body.get("stream"):
            content: list[JSONObject] = [{"type": "text", "text": reply.text}] if reply.text else []
            whole: dict[str, Any] = {**message, "content": [*content, *uses], "stop_reason": stop,
                     "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}}  # fmt: skip
            handler.send(200, json.dumps(whole).encode())
            return
        handler.start_stream()
        handler.event({"type": "message_start", "message": message}, "message_start")
        index = 0
        if reply.text:
            handler.event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                          "content_block_start")  # fmt: skip
            for piece in reply.split():
                handler.event({"type": "content_block_delta", "index": 0,
                               "delta": {"type": "text_delta", "text": piece}}, "content_block_delta")  # fmt: skip
                if reply.truncate:
                    return
            handler.event({"type": "content_block_stop", "index": 0}, "content_block_stop")
            index = 1
        for use in uses:
            start = {**use, "input": {}}
            handler.event({"type": "content_block_start", "index": index, "content_block": start},
                          "content_block_start")  # fmt: skip
            handler.event({"type": "content_block_delta", "index": index,
                           "delta": {"type": "input_json_delta", "partial_json": json.dumps(use["input"])}},
                          "content_block_delta")  # fmt: skip
            handler.event({"type": "content_block_stop", "index": index}, "content_block_stop")
            index += 1
        handler.event({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                       "usage": {"output_tokens": reply.output_tokens}}, "message_delta")  # fmt: skip
        handler.event({"type": "message_stop"}, "message_stop")


# -- Gemini generateContent --------------------------------------------------------------------


class GeminiStandIn(StandIn):
    """Gemini's API at ``url`` (``http://127.0.0.1:PORT``; ``/v1beta/models/M:generateContent``)."""

    def error_body(self, reply: Reply) -> JSONObject:
        """Google's error object."""
        status = {429: "RESOURCE_EXHAUSTED", 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED",
                  503: "UNAVAILABLE"}.get(reply.status, "INTERNAL")  # fmt: skip
        return {"error": {"code": reply.status, "message": reply.error, "status": status}}

    def answer(self, handler: _Handler, request: RecordedRequest, reply: Reply) -> None:
        """A ``GenerateContentResponse``, or a stream of them for ``:streamGenerateContent``."""
        model = urlsplit(request.path).path.rsplit("/", 1)[-1].split(":", 1)[0]
        finish = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS"}.get(reply.finish_reason(), "OTHER")
        usage: JSONObject = {"promptTokenCount": reply.input_tokens, "candidatesTokenCount": reply.output_tokens,
                 "totalTokenCount": reply.input_tokens + reply.output_tokens}  # fmt: skip
        calls: list[JSONObject] = [{"functionCall": {"name": name, "args": args}} for name, args in reply.tool_calls]

        def response(parts: list[JSONObject], last: bool) -> JSONObject:
            candidate: JSONObject = {"content": {"role": "model", "parts": cast(JSONValue, parts)}, "index": 0}
            out: JSONObject = {"candidates": [candidate], "modelVersion": model}
            if last:
                candidate["finishReason"] = finish
                out["usageMetadata"] = usage
            return out

        if ":streamGenerateContent" not in request.path:
            text: list[JSONObject] = [{"text": reply.text}] if reply.text else []
            handler.send(200, json.dumps(response([*text, *calls], True)).encode())
            return
        handler.start_stream()
        pieces = reply.split()
        for piece in pieces:
            handler.event(response([{"text": piece}], False))
            if reply.truncate:
                return
        handler.event(response(calls, True))


# -- a scripted host for agent plugins ---------------------------------------------------


def _openai_messages(messages: list[ChatMessage]) -> list[JSONObject]:
    out: list[JSONObject] = []
    for message in messages:
        item: JSONObject = {"role": message.role, "content": message.content}
        if message.parts:
            item["content"] = message.content + "".join(" [image]" for p in message.parts if p.type == "image")
        if message.tool_calls:
            item["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in message.tool_calls
            ]
        if message.tool_call_id:
            item["tool_call_id"] = message.tool_call_id
        out.append(item)
    return out


class ScriptedHost:
    """Plays the host for an agent plugin's tests (``testing.call(..., host=...)`` or ``RunnerClient(host=...)``).

    Args:
        llm: Completions are posted to this stand-in in OpenAI's format.
        tools: The granted tools, by name: functions of the arguments returning JSON.

    It records what the plugin asked: ``completions``, ``tool_calls`` and ``steps``.
    """

    def __init__(
        self, llm: OpenAIStandIn | None = None, tools: dict[str, Callable[[dict[str, Any]], Any]] | None = None
    ) -> None:
        self.llm = llm
        self.tools = dict(tools or {})
        self.completions: list[CompletionRequest] = []
        self.tool_calls: list[ToolCall] = []
        self.steps: list[AgentStep] = []

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """Post the request to the stand-in and read its answer."""
        self.completions.append(request)
        if self.llm is None:
            raise NonRetryableError("this ScriptedHost has no LLM stand-in; pass llm=OpenAIStandIn()")
        body: JSONObject = {"model": request.model, "messages": cast(JSONValue, _openai_messages(request.messages))}
        if request.tools:
            body["tools"] = [{"type": "function", "function": t.model_dump(mode="json")} for t in request.tools]
        answer = await asyncio.to_thread(self._post, body)
        choice = answer["choices"][0]
        message = choice["message"]
        calls = [
            ToolCall(id=c["id"], name=c["function"]["name"], arguments=json.loads(c["function"]["arguments"] or "{}"))
            for c in message.get("tool_calls") or []
        ]
        usage = answer.get("usage") or {}
        return CompletionResult(
            model=answer.get("model", request.model),
            message=ChatMessage(role="assistant", content=message.get("content") or "", tool_calls=calls),
            finish_reason=choice.get("finish_reason") or "stop",
            usage=Usage(input_tokens=usage.get("prompt_tokens", 0), output_tokens=usage.get("completion_tokens", 0)),
        )

    def _post(self, body: JSONObject) -> Any:
        assert self.llm is not None
        request = urllib.request.Request(  # noqa: S310 -- the loopback stand-in
            self.llm.url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer test"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 -- the loopback stand-in
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RetryableError(f"the LLM stand-in answered {exc.code}: {exc.read()[:300]!r}") from None

    async def call_tool(self, call: ToolCall) -> ToolResult:
        """Run the tool's function; an unknown tool is refused like the host refuses it."""
        self.tool_calls.append(call)
        function = self.tools.get(call.name)
        if function is None:
            return ToolResult(
                call_id=call.id,
                name=call.name,
                ok=False,
                error=f"tool {call.name!r} is not granted; granted: {', '.join(sorted(self.tools)) or 'none'}",
            )
        try:
            output = await asyncio.to_thread(function, dict(call.arguments))
        except Exception as exc:  # noqa: BLE001 -- a failing tool is reported to the model
            return ToolResult(call_id=call.id, name=call.name, ok=False, error=f"{type(exc).__name__}: {exc}")
        return ToolResult(call_id=call.id, name=call.name, output=output)

    async def record(self, step: AgentStep) -> None:
        """Keep the step."""
        self.steps.append(step)

    def tool_names(self) -> Iterator[str]:
        """The names of the tool calls made, in order."""
        return (call.name for call in self.tool_calls)
