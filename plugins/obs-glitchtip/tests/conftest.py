"""A local stand-in for GlitchTip's ingestion: Sentry envelopes at /api/<project>/envelope/."""

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

PROJECT = "7"
PUBLIC_KEY = "0123456789abcdef0123456789abcdef"


@dataclass
class GlitchTip:
    """Events received, with the auth header each came with."""

    port: int
    events: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    status: int = 200

    @property
    def dsn(self) -> str:
        return f"http://{PUBLIC_KEY}@127.0.0.1:{self.port}/{PROJECT}"

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= count:
                    break
            time.sleep(0.02)
        with self.lock:
            return list(self.events)


def parse_envelope(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """The items of a Sentry envelope: a header line, then per item a header line and its payload."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        length = header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        items.append((header, payload))
    return items


@pytest.fixture
def glitchtip() -> Iterator[GlitchTip]:
    state = GlitchTip(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != f"/api/{PROJECT}/envelope/":
                self.send_response(404)
                self.end_headers()
                return
            auth = self.headers.get("X-Sentry-Auth", "")
            with state.lock:
                state.auth.append(auth)
                if state.status == 200 and f"sentry_key={PUBLIC_KEY}" in auth:
                    for header, payload in parse_envelope(body):
                        if header.get("type") == "event":
                            state.events.append(json.loads(payload))
            self.send_response(state.status if f"sentry_key={PUBLIC_KEY}" in auth else 403)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

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
