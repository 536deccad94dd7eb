"""A local stand-in for Langfuse's trace ingestion: OTLP/HTTP at /api/public/otel/v1/traces, basic auth."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PUBLIC_KEY = "pk-lf-0123456789"
SECRET_KEY = "sk-lf-abcdefghijkl"


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class Langfuse:
    """Spans received (attributes decoded), and every request's auth header and status."""

    port: int
    spans: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    status: int = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.spans) >= count:
                    break
            time.sleep(0.02)
        with self.lock:
            return list(self.spans)

    def clear(self) -> None:
        with self.lock:
            self.spans.clear()
            self.auth.clear()
            self.raw.clear()
            self.status = 200


def _expected_auth() -> str:
    return "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()


@pytest.fixture(scope="session")
def langfuse_server() -> Iterator[Langfuse]:
    state = Langfuse(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/api/public/otel/v1/traces":
                self.send_response(404)
                self.end_headers()
                return
            auth = self.headers.get("Authorization", "")
            with state.lock:
                state.auth.append(auth)
                status = state.status if auth == _expected_auth() else 401
                if status == 200:
                    state.raw.append(body)
                    request = ExportTraceServiceRequest.FromString(body)
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                attributes = {a.key: _value(a.value) for a in span.attributes}
                                state.spans.append({
                                    "name": span.name,
                                    "trace_id": span.trace_id.hex(),
                                    "duration_ns": span.end_time_unix_nano - span.start_time_unix_nano,
                                    "attributes": attributes,
                                })  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            if status != 200:
                self.wfile.write(json.dumps({"message": "Invalid credentials"}).encode())

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
def langfuse(langfuse_server: Langfuse) -> Langfuse:
    langfuse_server.clear()
    return langfuse_server
