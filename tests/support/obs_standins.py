"""Local stand-ins for the services the obs plugins feed, each speaking the documented protocol.

- Langfuse: ``POST /api/public/otel/v1/traces`` (OTLP/HTTP protobuf, basic auth public:secret key);
- PostHog: ``POST /batch/`` and ``/i/v0/e/`` (capture, ``api_key`` in the body), ``/flags/``;
- GlitchTip: ``POST /api/<project>/envelope/`` (Sentry envelopes, ``X-Sentry-Auth``);
- Wazuh: a syslog listener on UDP (one RFC 5424 message per datagram).

One HTTP server answers the three HTTP services; ``down`` makes a service answer 503.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.threaded_server import ThreadedServer

__all__ = ["GLITCHTIP_KEY", "LANGFUSE_PUBLIC", "LANGFUSE_SECRET", "POSTHOG_KEY", "ObsStandIns", "SyslogListener"]

LANGFUSE_PUBLIC = "pk-lf-host-test"
LANGFUSE_SECRET = "sk-lf-host-test-secret"
POSTHOG_KEY = "phc_hosttest0123456789"
GLITCHTIP_KEY = "0123456789abcdef0123456789abcdef"
_PROJECT = "3"


def _attribute(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class ObsStandIns(ThreadedServer):
    """Langfuse, PostHog and GlitchTip on one loopback port; what each received is kept."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.product_events: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.down: set[str] = set()
        self._lock = threading.Lock()
        routes = [
            Route("/api/public/otel/v1/traces", self._langfuse, methods=["POST"]),
            Route("/batch/", self._posthog, methods=["POST"]),
            Route("/i/v0/e/", self._posthog, methods=["POST"]),
            Route("/flags/", self._flags, methods=["POST"]),
            Route("/api/{project}/envelope/", self._glitchtip, methods=["POST"]),
        ]
        super().__init__(Starlette(routes=routes), "the obs stand-ins")

    @property
    def url(self) -> str:
        """The base URL of all three."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def dsn(self) -> str:
        """The GlitchTip project's DSN."""
        return f"http://{GLITCHTIP_KEY}@127.0.0.1:{self.port}/{_PROJECT}"

    @staticmethod
    async def _body(request: Request) -> bytes:
        body = await request.body()
        return gzip.decompress(body) if request.headers.get("content-encoding") == "gzip" else body

    async def _langfuse(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{LANGFUSE_PUBLIC}:{LANGFUSE_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"message": "Invalid credentials"}, status_code=401)
        if "langfuse" in self.down:
            return Response(status_code=503)
        message = ExportTraceServiceRequest.FromString(await self._body(request))
        spans = [
            {"name": span.name, "trace_id": span.trace_id.hex(),
             "attributes": {a.key: _attribute(a.value) for a in span.attributes}}
            for resource in message.resource_spans for scope in resource.scope_spans for span in scope.spans
        ]  # fmt: skip
        with self._lock:
            self.spans.extend(spans)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    async def _posthog(self, request: Request) -> Response:
        payload = json.loads(await self._body(request))
        if payload.get("api_key") != POSTHOG_KEY:
            return JSONResponse({"detail": "Project API key invalid."}, status_code=401)
        if "posthog" in self.down:
            return JSONResponse({"detail": "unavailable"}, status_code=503)
        with self._lock:
            self.product_events.extend(payload.get("batch", [payload]))
        return JSONResponse({"status": 1})

    async def _flags(self, request: Request) -> Response:
        payload = json.loads(await self._body(request))
        if payload.get("api_key") != POSTHOG_KEY:
            return JSONResponse({"detail": "Project API key invalid."}, status_code=401)
        return JSONResponse({"flags": {}, "errorsWhileComputingFlags": False, "requestId": "r"})

    async def _glitchtip(self, request: Request) -> Response:
        if request.path_params["project"] != _PROJECT or f"sentry_key={GLITCHTIP_KEY}" not in request.headers.get(
            "x-sentry-auth", ""
        ):
            return JSONResponse({"detail": "bad key"}, status_code=403)
        if "glitchtip" in self.down:
            return Response(status_code=503)
        _, _, rest = (await self._body(request)).partition(b"\n")
        events = []
        while rest.strip():
            header_line, _, rest = rest.partition(b"\n")
            header = json.loads(header_line)
            length = header.get("length")
            if length is None:
                payload, _, rest = rest.partition(b"\n")
            else:
                payload, rest = rest[:length], rest[length + 1 :]
            if header.get("type") == "event":
                events.append(json.loads(payload))
        with self._lock:
            self.errors.extend(events)
        return JSONResponse({})

    def wait(self, what: Callable[[ObsStandIns], list[Any]], count: int, timeout: float = 30.0) -> list[Any]:
        """``what(self)`` once it holds ``count`` items (or whatever it holds at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = list(what(self))
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


class SyslogListener:
    """A Wazuh agent's syslog input on a UDP loopback port; keeps every datagram."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port = int(self._socket.getsockname()[1])
        self.messages: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            self.messages.append(data)

    def wait(self, count: int, timeout: float = 30.0) -> list[bytes]:
        """The messages, once there are ``count``."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()
