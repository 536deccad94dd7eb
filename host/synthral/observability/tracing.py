"""OpenTelemetry spans, configured by the standard ``OTEL_*`` variables, free when off.

The settings tree reads the variables (``settings.observability``). Tracing is on when an
OTLP endpoint is named (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``OTEL_TRACES_EXPORTER`` names an exporter
(``otlp`` or ``console``), and ``OTEL_SDK_DISABLED`` is not ``true``. The OTLP exporter speaks
HTTP/protobuf and reads its own variables (headers, timeout, compression); the resource
takes ``OTEL_SERVICE_NAME`` and reads ``OTEL_RESOURCE_ATTRIBUTES``. When off, :func:`span` returns one
shared do-nothing context manager: no tracer is consulted and no object is made.

The context crosses the plugin boundary as a W3C ``traceparent`` in each ``invoke``'s
context (docs/plugin-protocol.md); a plugin whose venv has OpenTelemetry makes its spans
children of the host's RPC span.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Final

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from synthral.errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from synthral.config import ObservabilitySettings

__all__ = [
    "TraceSettings",
    "configure_tracing",
    "current_ids",
    "enabled",
    "set_error",
    "shutdown_tracing",
    "span",
    "traceparent",
]

log = logging.getLogger("synthral.observability")

AttributeValue = str | int | float | bool
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_NOOP: Final[AbstractContextManager[None]] = contextlib.nullcontext()


class _State:
    provider: TracerProvider | None = None
    tracer: Tracer | None = None


_state = _State()


class TraceSettings:
    """Whether and where the host traces, from the ``OTEL_*`` variables of the settings tree.

    Attributes:
        exporter: ``otlp``, ``console`` or ``None`` (off).
        protocol: The OTLP protocol; only ``http/protobuf`` is shipped.
        endpoint: Where OTLP spans go (the full ``/v1/traces`` URL); None: the exporter's default.
        service_name: The ``service.name`` of the spans.
    """

    def __init__(
        self, exporter: str | None, protocol: str, endpoint: str | None = None, service_name: str = "synthral"
    ) -> None:
        self.exporter = exporter
        self.protocol = protocol
        self.endpoint = endpoint
        self.service_name = service_name

    @classmethod
    def from_settings(cls, settings: ObservabilitySettings) -> TraceSettings:
        """What the settings ask for.

        Raises:
            ConfigurationError: An exporter or protocol this host does not ship is asked for.
        """
        protocol = settings.otlp_traces_protocol or settings.otlp_protocol or "http/protobuf"
        if settings.sdk_disabled:
            return cls(None, protocol, service_name=settings.service_name)
        endpoint = settings.otlp_traces_endpoint or None
        if endpoint is None and settings.otlp_endpoint:
            endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"  # the OTLP/HTTP signal path
        names = [n.strip() for n in settings.traces_exporter.split(",") if n.strip()]
        if not names:
            names = ["otlp"] if endpoint else []
        names = [n for n in names if n != "none"]
        if not names:
            return cls(None, protocol, service_name=settings.service_name)
        if len(names) > 1 or names[0] not in ("otlp", "console"):
            raise ConfigurationError(
                f"OTEL_TRACES_EXPORTER={settings.traces_exporter!r} is not supported; set it to otlp, console or none",
                details={"variable": "OTEL_TRACES_EXPORTER"},
            )
        if names[0] == "otlp" and protocol != "http/protobuf":
            raise ConfigurationError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; the host exports OTLP over "
                "http/protobuf: set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and point "
                "OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port (4318)",
                details={"variable": "OTEL_EXPORTER_OTLP_PROTOCOL"},
            )
        return cls(names[0], protocol, endpoint, settings.service_name)


def configure_tracing(settings: TraceSettings | None = None, *, exporter: SpanExporter | None = None) -> bool:
    """Start tracing as ``settings`` ask (idempotent); whether it is on.

    Args:
        settings: From :meth:`TraceSettings.from_settings`; off when None (unless ``exporter``).
        exporter: Export to this instead of what the settings name (tests, embedding).
    """
    if _state.provider is not None:
        return True
    # The SDK (and psutil, for its resource) is imported only when tracing is on.
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter  # noqa: PLC0415

    settings = settings or TraceSettings(None, "http/protobuf")
    if exporter is None:
        if settings.exporter is None:
            return False
        if settings.exporter == "console":
            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415 -- only when on
                OTLPSpanExporter,
            )

            exporter = OTLPSpanExporter(endpoint=settings.endpoint)
    resource = Resource.create({"service.name": settings.service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _state.provider = provider
    _state.tracer = provider.get_tracer("synthral")
    log.info("tracing on: spans exported by %s", type(exporter).__name__)
    return True


def shutdown_tracing() -> None:
    """Export what is pending and stop tracing."""
    provider = _state.provider
    _state.provider = None
    _state.tracer = None
    if provider is not None:
        provider.force_flush()
        provider.shutdown()


def enabled() -> bool:
    """Whether spans are being made."""
    return _state.tracer is not None


def span(name: str, attributes: Mapping[str, AttributeValue | None] | None = None) -> AbstractContextManager[object]:
    """A span around a block (the current one's child); a shared no-op when tracing is off.

    An exception leaving the block marks the span as an error and is recorded on it.
    """
    tracer = _state.tracer
    if tracer is None:
        return _NOOP
    clean = {k: v for k, v in attributes.items() if v is not None} if attributes else None
    return tracer.start_as_current_span(name, attributes=clean, record_exception=True, set_status_on_exception=True)


def set_error(message: str) -> None:
    """Mark the current span as failed (for errors handled without an exception leaving it)."""
    if _state.tracer is None:
        return
    current = trace.get_current_span()
    current.set_status(Status(StatusCode.ERROR, message[:500]))


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent`` header value, or None when there is none."""
    if _state.tracer is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def current_ids() -> tuple[str, str] | None:
    """The current trace and span ids as hex, for log records; None outside a span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
