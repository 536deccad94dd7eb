"""A local stand-in for PostHog: capture at /batch/ and /i/v0/e/, feature flags at /flags/ (v4 answers)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

API_KEY = "phc_test0123456789abcdef"


@dataclass
class PostHog:
    """Events captured, flag requests and their bodies; ``flags`` is what the project defines."""

    port: int
    events: list[dict[str, Any]] = field(default_factory=list)
    flag_requests: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    status: int = 200
    flags: dict[str, bool | str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= count:
                    break
            time.sleep(0.02)
        with self.lock:
            return list(self.events)

    def clear(self) -> None:
        with self.lock:
            self.events.clear()
            self.flag_requests.clear()
            self.raw.clear()
            self.status = 200
            self.flags = {"new-editor": True, "pricing-test": "variant-b", "beta": False}


@pytest.fixture(scope="session")
def posthog_server() -> Iterator[PostHog]:
    state = PostHog(port=0)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            path = self.path.split("?", 1)[0]
            payload = json.loads(body)
            with state.lock:
                state.raw.append(body)
                if payload.get("api_key", payload.get("token")) != API_KEY:
                    self._answer(401, {"type": "authentication_error", "detail": "Project API key invalid."})
                    return
                if state.status != 200:
                    self._answer(state.status, {"detail": "unavailable"})
                    return
                if path in ("/batch/", "/i/v0/e/"):
                    state.events.extend(payload.get("batch", [payload]))
                    self._answer(200, {"status": 1})
                elif path == "/flags/":
                    state.flag_requests.append(payload)
                    wanted = payload.get("flag_keys_to_evaluate") or list(state.flags)
                    flags = {
                        key: {"key": key, "enabled": bool(value), "variant": value if isinstance(value, str) else None,
                              "reason": {"code": "condition_match"}, "metadata": {"id": 1, "version": 1}}
                        for key, value in state.flags.items() if key in wanted
                    }  # fmt: skip
                    self._answer(200, {"flags": flags, "errorsWhileComputingFlags": False, "requestId": "r-1"})
                else:
                    self._answer(404, {"detail": "not found"})

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def posthog(posthog_server: PostHog) -> PostHog:
    posthog_server.clear()
    return posthog_server
