"""Metrics, traces, structured logs: how a running SynthralOS is watched (docs/observability.md)."""

from __future__ import annotations

from synthral.observability import hooks, metrics, tracing
from synthral.observability.logs import install_json_logs
from synthral.observability.tracing import configure_tracing, shutdown_tracing

__all__ = ["configure_tracing", "hooks", "install_json_logs", "metrics", "shutdown_tracing", "tracing"]
