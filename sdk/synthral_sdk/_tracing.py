"""The host's trace context inside a plugin call, when the plugin's venv has OpenTelemetry.

The SDK does not depend on OpenTelemetry. A plugin that wants its spans in the host's trace
adds ``opentelemetry-api`` (and, to export them itself, ``opentelemetry-sdk`` with an
exporter, configured by the ``OTEL_*`` variables the host passes to plugin processes); the
runner then makes the call's ``traceparent`` the current context while the call runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["trace_parent"]


@contextlib.contextmanager
def trace_parent(traceparent: str | None) -> Iterator[None]:
    """Make ``traceparent`` the current OpenTelemetry context for the block (nothing without it)."""
    if traceparent is None:
        yield
        return
    try:
        from opentelemetry import context as otel_context  # noqa: PLC0415 -- optional, per plugin
        from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
            TraceContextTextMapPropagator,
        )
    except ImportError:
        yield
        return
    token = otel_context.attach(TraceContextTextMapPropagator().extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        otel_context.detach(token)
