"""What the call sites say: one function per observed act, each recording metrics, a span and log ids.

The engine, the plugin proxy, the webhook service and the LLM service each call one of these
at the point where the act happens, so the series, span names and attributes live here
rather than scattered over the host.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Final

from synthral.observability import metrics, tracing
from synthral.observability.logs import execution_scope, node_scope

__all__ = [
    "PluginCall",
    "execution",
    "execution_ended",
    "llm_usage",
    "plugin_call",
    "step_attempt",
    "step_retried",
    "webhook_delivery",
]

log = logging.getLogger("synthral.engine.execution")

_SCRAPE_CATEGORIES: Final = frozenset({"scrape", "scraping", "browser", "web"})
"""Palette groups (lower-cased) whose calls count as scraping: the web nodes' group and older names."""


@contextlib.contextmanager
def execution(execution_id: str, workflow_id: str, version: int) -> Iterator[None]:
    """Around one worker's turn at an execution: its span, and its id on every log record."""
    with (
        execution_scope(execution_id),
        tracing.span(
            "workflow.execution",
            {
                "synthral.execution_id": execution_id,
                "synthral.workflow_id": workflow_id,
                "synthral.workflow_version": version,
            },
        ),
    ):
        yield


def execution_ended(status: str) -> None:
    """An execution reached ``status`` (completed, failed, cancelled, paused, waiting...)."""
    metrics.WORKFLOW_EXECUTIONS.labels(status=status).inc()
    log.info("execution reached %s", status, extra={"status": status})
    if status == "failed":
        tracing.set_error("execution failed")


@contextlib.contextmanager
def step_attempt(node_id: str, node_type: str, attempt: int) -> Iterator[None]:
    """Around one attempt of a step: its span, its duration by node type and outcome."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        with (
            node_scope(node_id),
            tracing.span(
                "workflow.step",
                {"synthral.node_id": node_id, "synthral.node_type": node_type, "synthral.attempt": attempt},
            ),
        ):
            yield
        outcome = "completed"
    except BaseException as exc:
        outcome = "cancelled" if not isinstance(exc, Exception) else "failed"
        raise
    finally:
        metrics.STEP_DURATION.labels(node_type=node_type, outcome=outcome).observe(time.perf_counter() - started)


def step_retried(node_type: str) -> None:
    """A failed attempt is to be retried."""
    metrics.STEP_RETRIES.labels(node_type=node_type).inc()


class PluginCall:
    """One call into a plugin process, as the proxy sees it.

    Attributes:
        traceparent: The W3C header of the call's span, for the ``invoke`` context.
    """

    __slots__ = ("traceparent",)

    def __init__(self) -> None:
        self.traceparent: str | None = None


@contextlib.contextmanager
def plugin_call(kind: str, plugin: str, capability: str, operation: str, category: str | None) -> Iterator[PluginCall]:
    """Around an ``invoke``: its span (the plugin's own spans join it) and its series by kind."""
    call = PluginCall()
    started = time.perf_counter()
    failed = True
    try:
        with tracing.span(
            f"plugin.invoke {plugin}/{capability}",
            {
                "rpc.system": "jsonrpc",
                "rpc.service": plugin,
                "rpc.method": "invoke",
                "synthral.capability": f"{plugin}/{capability}",
                "synthral.capability_kind": kind,
                "synthral.operation": operation,
            },
        ):
            call.traceparent = tracing.traceparent()
            yield call
        failed = False
    finally:
        seconds = time.perf_counter() - started
        metrics.PLUGIN_RPC_LATENCY.labels(plugin=plugin, kind=kind).observe(seconds)
        ref = f"{plugin}/{capability}"
        if kind == "connector":
            metrics.CONNECTOR_LATENCY.labels(slug=ref, action=operation).observe(seconds)
            if failed:
                metrics.CONNECTOR_ERRORS.labels(slug=ref, action=operation).inc()
        elif kind == "agent_framework":
            metrics.AGENT_TASK_LATENCY.labels(framework=ref).observe(seconds * 1000)
        elif kind == "vector_store":
            metrics.RAG_QUERY_LATENCY.labels(vector_db=ref).observe(seconds * 1000)
        elif kind == "ocr_engine":
            metrics.OCR_JOB_LATENCY.labels(engine=ref).observe(seconds * 1000)
        elif category in _SCRAPE_CATEGORIES:
            metrics.SCRAPE_JOB_LATENCY.labels(engine=ref).observe(seconds * 1000)


def webhook_delivery(outcome: str, reason: str) -> None:
    """A webhook delivery was ``accepted`` or ``rejected`` (reason: a short fixed word)."""
    metrics.WEBHOOK_DELIVERIES.labels(outcome=outcome, reason=reason).inc()


def llm_usage(model: str, tokens_input: int, tokens_output: int, usd_cost: float | None) -> None:
    """An LLM call's usage by model."""
    if tokens_input:
        metrics.LLM_TOKENS.labels(model=model, direction="input").inc(tokens_input)
    if tokens_output:
        metrics.LLM_TOKENS.labels(model=model, direction="output").inc(tokens_output)
    if usd_cost:
        metrics.LLM_COST.labels(model=model).inc(usd_cost)
