"""An OTLP/HTTP trace receiver: what a collector (Signoz, Jaeger, Tempo) listens on at port 4318.

It accepts ``POST /v1/traces`` with an ``ExportTraceServiceRequest`` in protobuf (gzip or not,
as the OTLP specification allows), decodes it with the OpenTelemetry protocol's own message
classes, answers an ``ExportTraceServiceResponse`` and keeps every span for the test to read.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.threaded_server import ThreadedServer

PROTOBUF = "application/x-protobuf"


@dataclass
class ReceivedSpan:
    """A span as the receiver decoded it."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    attributes: dict[str, Any] = field(default_factory=dict)
    status_code: int = 0


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class OtlpReceiver(ThreadedServer):
    """Collects the spans exporters send; ``endpoint`` is what ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._lock = threading.Lock()
        super().__init__(Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])]), "the OTLP receiver")

    @property
    def endpoint(self) -> str:
        """The base URL (exporters append /v1/traces)."""
        return f"http://127.0.0.1:{self.port}"

    async def _traces(self, request: Request) -> Response:
        if request.headers.get("content-type") != PROTOBUF:
            return Response(status_code=415)
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        received = []
        for resource_spans in message.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            service=str(resource.get("service.name", "")),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status_code=span.status.code,
                        )
                    )
        with self._lock:
            self.spans.extend(received)
            self.requests += 1
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)

    def wait_for(self, name_prefix: str, count: int = 1, timeout: float = 20.0) -> list[ReceivedSpan]:
        """The spans whose name starts with ``name_prefix``, once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [s for s in self.spans if s.name.startswith(name_prefix)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def main() -> None:
    """Serve as a process of its own, as a collector runs: print the endpoint, then the span count at EOF.

    ``python -m tests.support.otlp`` writes its endpoint as the first line of stdout and,
    when stdin is closed, the number of spans received as the second, then exits. Benchmarks
    use it so that decoding the spans does not share the measured process's interpreter.
    """
    with OtlpReceiver() as receiver:
        print(receiver.endpoint, flush=True)
        sys.stdin.read()
        print(len(receiver.spans), flush=True)


if __name__ == "__main__":
    main()
