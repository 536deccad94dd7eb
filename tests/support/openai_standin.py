"""A local stand-in for an OpenAI-compatible API: ``/v1/embeddings`` and ``/v1/chat/completions``.

Standard library only, so plugin test suites (each in its own venv) load it too. Embeddings
are a hashed bag of words, normalised: texts sharing words are close, which is enough to
test retrieval end to end. Chat answers come from ``responder`` (by default: cite source
[1] with its first line). Every request is recorded; ``fail_next`` makes the next requests
answer with an error status.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OpenAIStandIn", "bag_of_words"]

_WORD = re.compile(r"[a-z0-9]+")


def bag_of_words(text: str, dims: int) -> list[float]:
    """A normalised hashed bag of the words of ``text`` (a zero text gets a fixed unit vector)."""
    vector = [0.0] * dims
    for word in _WORD.findall(text.lower()):
        slot = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vector[slot % dims] += 1.0 if (slot >> 32) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


def _default_responder(request: dict[str, Any]) -> str:
    prompt = str(request["messages"][-1].get("content", ""))
    found = re.search(r"\[1\][^\n]*\n([^\n]+)", prompt)
    first = found.group(1).strip() if found else "nothing"
    return f"{first} [1]"


class OpenAIStandIn:
    """Serve the stand-in on 127.0.0.1 from :meth:`start` until :meth:`stop` (a context manager).

    Args:
        dims: Dimensions of the embeddings (a request's ``dimensions`` overrides it).
        api_key: When set, requests must carry ``Authorization: Bearer <api_key>``.
        responder: Makes a chat answer's text from the request body.
    """

    def __init__(
        self, *, dims: int = 64, api_key: str | None = None, responder: Callable[[dict[str, Any]], str] | None = None
    ) -> None:
        self.dims = dims
        self.api_key = api_key
        self.responder = responder or _default_responder
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.fail_next: list[int] = []
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def do_POST(self) -> None:
                standin._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The API's base URL, ending in /v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIStandIn:
        """Serve until :meth:`stop`."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpenAIStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, message: str, kind: str) -> None:
        self._reply(handler, status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            body = json.loads(handler.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._error(handler, 400, "the body is not JSON", "invalid_request_error")
            return
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append((path, body))
            failure = self.fail_next.pop(0) if self.fail_next else None
        if self.api_key is not None and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._error(handler, 401, "Incorrect API key provided", "invalid_request_error")
            return
        if failure is not None:
            self._error(handler, failure, f"injected failure {failure}", "server_error")
            return
        if path == "/v1/embeddings":
            self._embeddings(handler, body)
        elif path == "/v1/chat/completions":
            self._chat(handler, body)
        else:
            self._error(handler, 404, f"no route {path}", "invalid_request_error")

    def _embeddings(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            message = "'input' must be a string or a non-empty list of strings"
            self._error(handler, 400, message, "invalid_request_error")
            return
        dims = int(body.get("dimensions") or self.dims)
        data = []
        for index, text in enumerate(texts):
            vector = bag_of_words(text, dims)
            if body.get("encoding_format") == "base64":
                embedding: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(_WORD.findall(t.lower())) for t in texts)
        model = str(body.get("model") or "standin-embed")
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._reply(handler, 200, {"object": "list", "data": data, "model": model, "usage": usage})

    def _chat(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            self._error(handler, 400, "'messages' must be a non-empty list", "invalid_request_error")
            return
        text = self.responder(body)
        answer = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or "standin-chat"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 10},
        }
        self._reply(handler, 200, answer)
